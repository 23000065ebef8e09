import KeelStore
import PostgresNIO

extension PostgresStore {
    /// Every schema version this build knows, oldest first, each a list of single statements (the extended
    /// protocol runs one at a time). Never edit a shipped migration: add the next one.
    static let migrations: [(id: String, statements: [String])] = [
        ("v1", schemaV1)
    ]

    /// Any number appears here: it only has to be the same for every Keel, so that nodes starting together
    /// migrate one after another.
    private static let migrationLock: Int64 = 0x6B65_656C_7363_6865

    /// Refuses a database migrated by a newer Keel, then applies the migrations it lacks, in one transaction
    /// held under an advisory lock so that nodes starting at once do not race.
    func migrate() async throws(StoreError) {
        let known = Set(Self.migrations.map(\.id))
        let url = configuration.redactedURL
        try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: self.logger)
                .collect()
            try await connection.query("CREATE SCHEMA IF NOT EXISTS keel", logger: self.logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS keel.migration (id TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)",
                logger: self.logger
            )
            var applied = Set<String>()
            for row in try await connection.query("SELECT id FROM keel.migration", logger: self.logger).collect() {
                applied.insert(try row.makeRandomAccess()[0].decode(String.self))
            }
            let unknown = applied.subtracting(known)
            if !unknown.isEmpty {
                throw StoreError(
                    .schema,
                    "the database \(url) was written by a newer Keel (unknown schema migrations: "
                        + "\(unknown.sorted().joined(separator: ", "))); run that Keel version or a newer one"
                )
            }
            for migration in Self.migrations where !applied.contains(migration.id) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                }
                try await connection.query(
                    "INSERT INTO keel.migration (id, applied_at) VALUES (\(migration.id), now())",
                    logger: self.logger
                )
            }
        }
    }

    /// The stored form of `InvocationStatus.completed`, which the queries and partial indexes test against.
    static let completed = "completed"

    /// The same tables as the SQLite store's, in the schema `keel`. Integers are all `BIGINT` (Swift's `Int`
    /// and `Int64` bind as `int8`); `partition_key` holds the `UInt64` as its `Int64` bit pattern.
    private static let schemaV1 = [
        """
        CREATE TABLE keel.invocation (
            id TEXT PRIMARY KEY,
            partition_key BIGINT NOT NULL,
            service TEXT NOT NULL,
            handler TEXT NOT NULL,
            key TEXT,
            handler_kind TEXT,
            status TEXT NOT NULL,
            sequence BIGINT NOT NULL,
            idempotency_key TEXT,
            created_at BIGINT NOT NULL,
            modified_at BIGINT NOT NULL,
            execute_at BIGINT,
            retry_count BIGINT NOT NULL,
            last_failure TEXT,
            result_kind TEXT CHECK (result_kind IN ('success', 'failure')),
            output BYTEA,
            failure_code BIGINT,
            failure_message TEXT,
            failure_metadata TEXT,
            completed_at BIGINT,
            expires_at BIGINT,
            deployment_id TEXT,
            suspended_entries BIGINT
        )
        """,
        "CREATE INDEX invocation_unfinished ON keel.invocation (sequence) WHERE status <> '\(completed)'",
        "CREATE INDEX invocation_expiry ON keel.invocation (expires_at) WHERE status = '\(completed)'",
        """
        CREATE TABLE keel.journal (
            invocation_id TEXT NOT NULL,
            idx BIGINT NOT NULL,
            type BIGINT NOT NULL,
            payload BYTEA NOT NULL,
            PRIMARY KEY (invocation_id, idx)
        )
        """,
        """
        CREATE TABLE keel.state (
            service TEXT NOT NULL,
            key TEXT NOT NULL,
            name BYTEA NOT NULL,
            value BYTEA NOT NULL,
            PRIMARY KEY (service, key, name)
        )
        """,
        """
        CREATE TABLE keel.timer (
            invocation_id TEXT NOT NULL,
            completion_id BIGINT NOT NULL,
            due_at BIGINT NOT NULL,
            PRIMARY KEY (invocation_id, completion_id)
        )
        """,
        """
        CREATE TABLE keel.subscription (
            topic TEXT NOT NULL,
            subscriber_id TEXT NOT NULL,
            completion_id BIGINT NOT NULL,
            notification_type BIGINT NOT NULL,
            PRIMARY KEY (topic, subscriber_id, completion_id)
        )
        """,
        "CREATE INDEX subscription_subscriber ON keel.subscription (subscriber_id)",
        """
        CREATE TABLE keel.promise (
            service TEXT NOT NULL,
            key TEXT NOT NULL,
            name TEXT NOT NULL,
            result_kind TEXT NOT NULL CHECK (result_kind IN ('success', 'failure')),
            output BYTEA,
            failure_code BIGINT,
            failure_message TEXT,
            failure_metadata TEXT,
            PRIMARY KEY (service, key, name)
        )
        """,
        """
        CREATE TABLE keel.deployment (
            id TEXT PRIMARY KEY,
            uri TEXT NOT NULL,
            additional_headers TEXT NOT NULL,
            use_http_11 BOOLEAN NOT NULL,
            protocol_version BIGINT NOT NULL,
            manifest BYTEA NOT NULL,
            created_at BIGINT NOT NULL,
            retired_at BIGINT
        )
        """,
        """
        CREATE TABLE keel.event (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            key TEXT,
            data BYTEA NOT NULL,
            metadata BYTEA,
            deliveries TEXT NOT NULL,
            delivered BOOLEAN NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL
        )
        """,
        "CREATE INDEX event_undelivered ON keel.event (created_at) WHERE NOT delivered",
        "CREATE INDEX event_expiry ON keel.event (expires_at)",
        """
        CREATE TABLE keel.event_subscription (
            id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            sink TEXT NOT NULL,
            options TEXT NOT NULL,
            created_at BIGINT NOT NULL
        )
        """,
        """
        CREATE TABLE keel.schedule (
            id TEXT PRIMARY KEY,
            definition TEXT NOT NULL,
            progress TEXT NOT NULL,
            declared BOOLEAN NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )
        """,
        """
        CREATE TABLE keel.handler_limits (
            service TEXT NOT NULL,
            handler TEXT NOT NULL,
            concurrency TEXT,
            rate_limits TEXT,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (service, handler)
        )
        """,
        "CREATE TABLE keel.meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL)",
        "INSERT INTO keel.meta (name, value) VALUES ('max_sequence', 0)",
    ]
}
