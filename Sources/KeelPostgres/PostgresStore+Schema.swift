import KeelCore
import KeelStore
import PostgresNIO

extension PostgresStore {
    /// Every schema version this build knows, oldest first, each a list of single statements (the extended
    /// protocol runs one at a time). Never edit a shipped migration: add the next one.
    static let migrations: [(id: String, statements: [String])] = [
        ("v1", schemaV1),
        ("v2", [applyBatchFunction]),
        ("v3", introspectionFunctions),
        ("v4", leaseTables + [dropUnfencedApplyBatch, applyBatchFunction]),
        ("v5", [nodeTable]),
        ("v6", [clusterSecret]),
        ("v7", [outboxTable, outboxIndex, applyBatchFunction]),
        (
            "v8",
            [
                "INSERT INTO keel.meta (name, value) VALUES ('catalog_version', 0) ON CONFLICT DO NOTHING",
                rateBucketTable, takeRateTokenFunction,
            ]
        ),
        ("v9", [takeRateTokenFunction]),
        // A standby (`--standby`) asks for no share of the partitions: the others give it none.
        ("v10", ["ALTER TABLE keel.cluster_node ADD COLUMN standby BOOLEAN NOT NULL DEFAULT false"]),
        // A subscription's topic's partition key (as `keel.invocation.partition_key`), so that a node reads
        // only its partitions' subscriptions; rows stored before have none and are read by every node.
        (
            "v11",
            [
                "ALTER TABLE keel.subscription ADD COLUMN partition_key BIGINT",
                applyBatchFunction,
            ]
        ),
    ]

    /// A cluster's rate-limit buckets, shared by its nodes: per bucket, the instant its next token is due
    /// (epoch ms, GCRA's theoretical arrival time). A row due in the past is as good as none (purged).
    static let rateBucketTable = """
        CREATE TABLE keel.rate_bucket (bucket TEXT PRIMARY KEY, theoretical BIGINT NOT NULL)
        """

    /// `keel.take_rate_token`: `RateState.take`'s arithmetic on the bucket's row, under its row lock, so that
    /// nodes taking tokens at once take turns: the start instant (`now_ms` or later), or NULL when the start
    /// would have to wait and `reject` is set (nothing is taken then). Sums saturate as in Swift.
    static let takeRateTokenFunction = """
        CREATE OR REPLACE FUNCTION keel.take_rate_token(
            b TEXT, now_ms BIGINT, interval_ms BIGINT, tolerance_ms BIGINT, reject BOOLEAN
        ) RETURNS BIGINT LANGUAGE plpgsql AS $body$
        DECLARE
            arrival BIGINT;
            start_ms BIGINT;
        BEGIN
            -- Creates the row or locks the one there, in one statement (a purge cannot delete it in between).
            INSERT INTO keel.rate_bucket AS r (bucket, theoretical) VALUES (b, now_ms)
                ON CONFLICT (bucket) DO UPDATE SET theoretical = r.theoretical
                RETURNING greatest(r.theoretical, now_ms) INTO arrival;
            start_ms := greatest(CASE WHEN arrival < (-9223372036854775807 - 1) + tolerance_ms
                THEN -9223372036854775807 - 1 ELSE arrival - tolerance_ms END, now_ms);
            IF start_ms > now_ms AND reject THEN
                RETURN NULL;
            END IF;
            UPDATE keel.rate_bucket SET theoretical = CASE WHEN arrival > 9223372036854775807 - interval_ms
                THEN 9223372036854775807 ELSE arrival + interval_ms END WHERE bucket = b;
            RETURN start_ms;
        END
        $body$
        """

    /// Effects on a partition stored by the node that caused them, for the node that owns it (see
    /// `StoreOperation.insertOutbox`); the owner deletes each in the transaction that applies it.
    static let outboxTable = """
        CREATE TABLE keel.outbox (
            id BIGSERIAL PRIMARY KEY,
            partition INTEGER NOT NULL,
            payload BYTEA NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )
        """
    static let outboxIndex = "CREATE INDEX outbox_partition ON keel.outbox (partition, id)"

    /// The channel an outbox insert notifies (at commit), with the partition as the payload.
    static let outboxChannel = "keel_outbox"

    /// The secret nodes show each other when they forward a request (`LeasedStore.clusterSecret()`): 244 random
    /// bits from PostgreSQL's strong generator, set for the cluster row that exists and for one created later.
    static let clusterSecret = """
        ALTER TABLE keel.cluster ADD COLUMN secret TEXT NOT NULL \
        DEFAULT replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '')
        """

    /// The nodes of the cluster: the address where the others reach each one (`--cluster-bind`), when it
    /// started, and when it last renewed its leases or, as a standby, last looked for free ones (the
    /// database's clock). A clean stop removes its row.
    static let nodeTable = """
        CREATE TABLE keel.cluster_node (
            name TEXT PRIMARY KEY,
            address TEXT,
            started_at TIMESTAMPTZ NOT NULL,
            seen_at TIMESTAMPTZ NOT NULL
        )
        """

    /// The cluster's partition count, fixed by the first node, and one lease row per partition: the node that
    /// owns it, the epoch it took it with (each takeover adds one), and when the lease expires on the
    /// database's clock.
    static let leaseTables = [
        """
        CREATE TABLE keel.cluster (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            partitions INTEGER NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        )
        """,
        """
        CREATE TABLE keel.partition_lease (
            partition INTEGER PRIMARY KEY,
            node TEXT,
            epoch BIGINT NOT NULL,
            expires_at TIMESTAMPTZ
        )
        """,
    ]

    /// v2's `keel.apply_batch` had no fence arguments (v2 now creates the fenced one directly; this drops the
    /// old one where v2 ran before v4 existed).
    static let dropUnfencedApplyBatch = """
        DROP FUNCTION IF EXISTS keel.apply_batch(SMALLINT[], TEXT[], TEXT[], TEXT[], TEXT[], TEXT[], TEXT[], TEXT[],
            TEXT[], TEXT[], TEXT[], TEXT[], TEXT[], BIGINT[], BIGINT[], BIGINT[], BIGINT[], BIGINT[], BIGINT[], BIGINT[],
            BIGINT[], BIGINT[], BYTEA[], BYTEA[], BIGINT)
        """

    /// Any number appears here: it only has to be the same for every Keel, so that nodes starting together
    /// migrate one after another.
    private static let migrationLock: Int64 = 0x6B65_656C_7363_6865

    /// Refuses a database migrated by a newer Keel, then applies the migrations it lacks, in one transaction
    /// held under an advisory lock so that nodes starting at once do not race.
    func migrate() async throws(StoreError) {
        let known = Set(Self.migrations.map(\.id))
        let url = configuration.redactedURL
        try await transaction { connection in
            _ = try await connection.query(
                "SELECT pg_advisory_xact_lock(\(Self.migrationLock))",
                logger: self.logger
            ).collect()
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

    /// `keel.apply_batch`: a whole `apply(_:)` batch in one statement, fenced by the writing node's leases when
    /// `fence_node` is set, so it costs one round trip and one
    /// transaction (a statement outside `BEGIN` is its own). It reads operation `i` from element `i` of each
    /// array, in order, with the slots `BatchColumns` fills. Appending to, updating or completing an unknown
    /// invocation changes nothing (an earlier operation may have deleted it); a broken constraint fails the
    /// whole batch.
    static let applyBatchFunction = """
        CREATE OR REPLACE FUNCTION keel.apply_batch(
            op SMALLINT[],
            t1 TEXT[], t2 TEXT[], t3 TEXT[], t4 TEXT[], t5 TEXT[], t6 TEXT[],
            t7 TEXT[], t8 TEXT[], t9 TEXT[], t10 TEXT[], t11 TEXT[], t12 TEXT[],
            n1 BIGINT[], n2 BIGINT[], n3 BIGINT[], n4 BIGINT[], n5 BIGINT[], n6 BIGINT[],
            n7 BIGINT[], n8 BIGINT[], n9 BIGINT[],
            b1 BYTEA[], b2 BYTEA[],
            max_sequence BIGINT,
            fence_node TEXT, fence_partitions BIGINT[], fence_epochs BIGINT[]
        ) RETURNS void LANGUAGE plpgsql AS $body$
        DECLARE
            i INTEGER;
        BEGIN
            IF fence_node IS NOT NULL THEN
                -- Shared locks: a takeover (which updates these rows) waits for this batch, so the batch commits
                -- under the epochs it checked or not at all.
                PERFORM 1 FROM keel.partition_lease WHERE partition = ANY(fence_partitions) FOR SHARE;
                IF EXISTS (SELECT 1 FROM unnest(fence_partitions, fence_epochs) AS f(p, e)
                        LEFT JOIN keel.partition_lease l ON l.partition = f.p
                        WHERE l.node IS DISTINCT FROM fence_node OR l.epoch IS DISTINCT FROM f.e) THEN
                    RAISE EXCEPTION 'node % no longer holds the leases it writes under', fence_node
                        USING ERRCODE = 'KL001';
                END IF;
            END IF;
            FOR i IN 1 .. coalesce(array_length(op, 1), 0) LOOP
                CASE op[i]
                WHEN 1 THEN
                    INSERT INTO keel.invocation (id, service, handler, key, handler_kind, status, idempotency_key,
                        last_failure, result_kind, failure_message, failure_metadata, deployment_id, partition_key,
                        sequence, created_at, modified_at, execute_at, retry_count, failure_code, completed_at,
                        expires_at, output)
                    VALUES (t1[i], t2[i], t3[i], t4[i], t5[i], t6[i], t7[i], t8[i], t9[i], t10[i], t11[i], t12[i],
                        n1[i], n2[i], n3[i], n4[i], n5[i], n6[i], n7[i], n8[i], n9[i], b1[i]);
                WHEN 2 THEN
                    INSERT INTO keel.journal (invocation_id, idx, type, payload)
                    SELECT t1[i], n1[i], n2[i], b1[i] WHERE EXISTS (SELECT 1 FROM keel.invocation WHERE id = t1[i]);
                WHEN 3 THEN
                    UPDATE keel.invocation SET status = t2[i], retry_count = n1[i], last_failure = t3[i],
                        modified_at = n2[i] WHERE id = t1[i];
                WHEN 4 THEN
                    INSERT INTO keel.state (service, key, name, value) VALUES (t1[i], t2[i], b1[i], b2[i])
                    ON CONFLICT (service, key, name) DO UPDATE SET value = excluded.value;
                WHEN 5 THEN
                    DELETE FROM keel.state WHERE service = t1[i] AND key = t2[i] AND name = b1[i];
                WHEN 6 THEN
                    DELETE FROM keel.state WHERE service = t1[i] AND key = t2[i];
                WHEN 7 THEN
                    UPDATE keel.invocation SET status = '\(completed)', result_kind = t2[i], output = b1[i],
                        failure_code = n1[i], failure_message = t3[i], failure_metadata = t4[i],
                        completed_at = n2[i], modified_at = n2[i], expires_at = n3[i] WHERE id = t1[i];
                    DELETE FROM keel.journal WHERE invocation_id = t1[i];
                    DELETE FROM keel.timer WHERE invocation_id = t1[i];
                    DELETE FROM keel.subscription WHERE subscriber_id = t1[i];
                WHEN 8 THEN
                    DELETE FROM keel.journal WHERE invocation_id = t1[i];
                    DELETE FROM keel.timer WHERE invocation_id = t1[i];
                    DELETE FROM keel.subscription WHERE subscriber_id = t1[i];
                    DELETE FROM keel.state WHERE (service, key) IN (SELECT service, key FROM keel.invocation
                        WHERE id = t1[i] AND handler_kind = '\(HandlerKind.workflow.rawValue)');
                    DELETE FROM keel.promise WHERE (service, key) IN (SELECT service, key FROM keel.invocation
                        WHERE id = t1[i] AND handler_kind = '\(HandlerKind.workflow.rawValue)');
                    DELETE FROM keel.invocation WHERE id = t1[i];
                WHEN 9 THEN
                    UPDATE keel.invocation SET status = 'suspended', suspended_entries = n1[i], modified_at = n2[i]
                        WHERE id = t1[i] AND status <> '\(completed)';
                WHEN 10 THEN
                    UPDATE keel.invocation SET deployment_id = t2[i] WHERE id = t1[i];
                WHEN 11 THEN
                    INSERT INTO keel.timer (invocation_id, completion_id, due_at) VALUES (t1[i], n1[i], n2[i])
                    ON CONFLICT (invocation_id, completion_id) DO UPDATE SET due_at = excluded.due_at;
                WHEN 12 THEN
                    DELETE FROM keel.timer WHERE invocation_id = t1[i] AND completion_id = n1[i];
                WHEN 13 THEN
                    INSERT INTO keel.subscription (topic, subscriber_id, completion_id, notification_type,
                        partition_key)
                    VALUES (t1[i], t2[i], n1[i], n2[i], n3[i]) ON CONFLICT DO NOTHING;
                WHEN 14 THEN
                    DELETE FROM keel.subscription WHERE topic = t1[i];
                WHEN 15 THEN
                    INSERT INTO keel.promise (service, key, name, result_kind, output, failure_code,
                        failure_message, failure_metadata)
                    VALUES (t1[i], t2[i], t3[i], t4[i], b1[i], n1[i], t5[i], t6[i]) ON CONFLICT DO NOTHING;
                WHEN 16 THEN
                    INSERT INTO keel.event (id, name, key, data, metadata, deliveries, delivered, created_at,
                        expires_at)
                    VALUES (t1[i], t2[i], t3[i], b1[i], b2[i], t4[i], n1[i] <> 0, n2[i], n3[i])
                    ON CONFLICT DO NOTHING;
                WHEN 17 THEN
                    UPDATE keel.event SET delivered = true WHERE id = t1[i];
                WHEN 18 THEN
                    UPDATE keel.schedule SET progress = t2[i] WHERE id = t1[i];
                WHEN 19 THEN
                    INSERT INTO keel.outbox (partition, payload) VALUES (n1[i], b1[i]);
                    PERFORM pg_notify('\(outboxChannel)', n1[i]::text);
                WHEN 20 THEN
                    -- A message is applied once: its deletion rides with its effect, and a second one fails.
                    DELETE FROM keel.outbox WHERE id = n1[i];
                    IF NOT FOUND THEN
                        RAISE EXCEPTION 'outbox message % was applied already', n1[i] USING ERRCODE = 'KL002';
                    END IF;
                END CASE;
            END LOOP;
            IF max_sequence IS NOT NULL THEN
                UPDATE keel.meta SET value = greatest(value, max_sequence) WHERE name = 'max_sequence';
            END IF;
        END
        $body$
        """

    /// What `/query`'s views call (`IntrospectionViews`): `keel_time(ms)`, RFC 3339 in UTC with milliseconds
    /// (NULL outside years 1–9999, which PostgreSQL's timestamps cannot hold), and `keel_utf8(bytes)`, the bytes
    /// as text when they are UTF-8 PostgreSQL can hold (no NUL), else NULL.
    static let introspectionFunctions = [
        """
        CREATE OR REPLACE FUNCTION keel.keel_time(ms BIGINT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS $body$
            SELECT CASE WHEN ms BETWEEN -62135596800000 AND 253402300799999 THEN
                to_char(to_timestamp((ms - ((ms % 1000) + 1000) % 1000) / 1000) AT TIME ZONE 'UTC',
                    'YYYY-MM-DD"T"HH24:MI:SS')
                || '.' || lpad((((ms % 1000) + 1000) % 1000)::text, 3, '0') || 'Z'
            END
        $body$
        """,
        """
        CREATE OR REPLACE FUNCTION keel.keel_utf8(bytes BYTEA) RETURNS TEXT LANGUAGE plpgsql IMMUTABLE AS $body$
        BEGIN
            RETURN convert_from(bytes, 'UTF8');
        EXCEPTION WHEN OTHERS THEN
            RETURN NULL;
        END
        $body$
        """,
    ]

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
