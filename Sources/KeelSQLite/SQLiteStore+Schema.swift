import Foundation
import GRDB
import KeelCore
import KeelProtocol
import KeelStore

extension SQLiteStore {
    /// The stored form of `InvocationStatus.completed`, which the queries and partial indexes test against.
    static let completed = InvocationStatus.completed.rawValue

    /// Every schema version this build knows, oldest first. Never edit a shipped migration: add the next one.
    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: schemaV1)
        }
        migrator.registerMigration("v2") { db in
            try db.execute(sql: schemaV2)
        }
        migrator.registerMigration("v3") { db in
            try db.execute(sql: "ALTER TABLE invocation ADD COLUMN suspended_entries INTEGER")
        }
        migrator.registerMigration("v4") { db in
            try db.execute(sql: schemaV4)
        }
        migrator.registerMigration("v5") { db in
            db.add(function: lookupFunction)
            try db.execute(sql: schemaV5)
            db.remove(function: lookupFunction)
        }
        migrator.registerMigration("v6") { db in
            try db.execute(sql: schemaV6)
        }
        migrator.registerMigration("v7") { db in
            try db.execute(sql: schemaV7)
        }
        migrator.registerMigration("v8") { db in
            try db.execute(sql: schemaV8)
        }
        return migrator
    }()

    /// Refuses a database migrated by a newer Keel (it could hold data this build would misread), then applies
    /// the migrations it lacks.
    static func migrate(_ database: DatabasePool, path: String) throws(StoreError) {
        do {
            let unknown = try database.read { db in
                try migrator.appliedIdentifiers(db).subtracting(migrator.migrations)
            }
            if !unknown.isEmpty {
                throw StoreError(
                    .schema,
                    "the database \(path) was written by a newer Keel (unknown schema migrations: "
                        + "\(unknown.sorted().joined(separator: ", "))); run that Keel version or a newer one, "
                        + "or point this one at another data directory"
                )
            }
            try migrator.migrate(database)
        } catch {
            let mapped = StoreError(mapping: error, path: path)
            guard mapped.code == .io else { throw mapped }
            throw StoreError(.schema, "migrating the database \(path) failed: \(mapped.message)")
        }
    }

    /// `partition_key` holds the `UInt64` as its `Int64` bit pattern, so a cluster can select a partition's rows.
    /// `meta.max_sequence` remembers the highest sequence even after its invocation is purged.
    private static let schemaV1 = """
        CREATE TABLE invocation (
            id TEXT NOT NULL PRIMARY KEY,
            partition_key INTEGER NOT NULL,
            service TEXT NOT NULL,
            handler TEXT NOT NULL,
            key TEXT,
            handler_kind TEXT,
            status TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            idempotency_key TEXT,
            created_at INTEGER NOT NULL,
            modified_at INTEGER NOT NULL,
            execute_at INTEGER,
            retry_count INTEGER NOT NULL,
            last_failure TEXT,
            result_kind TEXT CHECK (result_kind IN ('success', 'failure')),
            output BLOB,
            failure_code INTEGER,
            failure_message TEXT,
            failure_metadata TEXT,
            completed_at INTEGER,
            expires_at INTEGER,
            deployment_id TEXT
        );
        CREATE INDEX invocation_unfinished ON invocation (sequence) WHERE status <> '\(completed)';
        CREATE INDEX invocation_expiry ON invocation (expires_at) WHERE status = '\(completed)';
        CREATE TABLE journal (
            invocation_id TEXT NOT NULL,
            idx INTEGER NOT NULL,
            type INTEGER NOT NULL,
            payload BLOB NOT NULL,
            PRIMARY KEY (invocation_id, idx)
        ) WITHOUT ROWID;
        CREATE TABLE deployment (
            id TEXT NOT NULL PRIMARY KEY,
            uri TEXT NOT NULL,
            additional_headers TEXT NOT NULL,
            use_http_11 INTEGER NOT NULL,
            protocol_version INTEGER NOT NULL,
            manifest BLOB NOT NULL,
            created_at INTEGER NOT NULL,
            retired_at INTEGER
        );
        CREATE TABLE state (
            service TEXT NOT NULL,
            key TEXT NOT NULL,
            name BLOB NOT NULL,
            value BLOB NOT NULL,
            PRIMARY KEY (service, key, name)
        ) WITHOUT ROWID;
        CREATE TABLE meta (
            name TEXT NOT NULL PRIMARY KEY,
            value INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO meta (name, value) VALUES ('max_sequence', 0);
        """

    /// Durable waits: timers, subscriptions (calls and attaches waiting for a result, promise listeners) and
    /// workflow promises. Journal indexes became one global sequence, which `meta.max_sequence` also covers.
    private static let schemaV2 = """
        CREATE TABLE timer (
            invocation_id TEXT NOT NULL,
            completion_id INTEGER NOT NULL,
            due_at INTEGER NOT NULL,
            PRIMARY KEY (invocation_id, completion_id)
        ) WITHOUT ROWID;
        CREATE TABLE subscription (
            topic TEXT NOT NULL,
            subscriber_id TEXT NOT NULL,
            completion_id INTEGER NOT NULL,
            notification_type INTEGER NOT NULL,
            PRIMARY KEY (topic, subscriber_id, completion_id)
        ) WITHOUT ROWID;
        CREATE INDEX subscription_subscriber ON subscription (subscriber_id);
        CREATE TABLE promise (
            service TEXT NOT NULL,
            key TEXT NOT NULL,
            name TEXT NOT NULL,
            result_kind TEXT NOT NULL CHECK (result_kind IN ('success', 'failure')),
            output BLOB,
            failure_code INTEGER,
            failure_message TEXT,
            failure_metadata TEXT,
            PRIMARY KEY (service, key, name)
        ) WITHOUT ROWID;
        UPDATE meta SET value = max(value, (SELECT coalesce(max(idx), 0) FROM journal)) WHERE name = 'max_sequence';
        """

    /// The journal is keyed by its invocation's `sequence` instead of its id. Ids begin with a hashed partition
    /// key, so appends for concurrent invocations landed on as many B-tree leaves as there were invocations in a
    /// group commit, and each leaf costs a page write in the WAL. Sequences grow with time, so live journals sit
    /// together at the end of the tree. Entries whose invocation is gone are dropped.
    private static let schemaV4 = """
        CREATE TABLE journal_by_sequence (
            invocation_sequence INTEGER NOT NULL,
            idx INTEGER NOT NULL,
            type INTEGER NOT NULL,
            payload BLOB NOT NULL,
            PRIMARY KEY (invocation_sequence, idx)
        ) WITHOUT ROWID;
        INSERT INTO journal_by_sequence (invocation_sequence, idx, type, payload)
            SELECT invocation.sequence, journal.idx, journal.type, journal.payload
            FROM journal JOIN invocation ON invocation.id = journal.invocation_id;
        DROP TABLE journal;
        ALTER TABLE journal_by_sequence RENAME TO journal;
        """

    /// Invocations are found by `lookup`, their id's bytes reordered to start with the UUID's time
    /// (`InvocationID.lookupKey`), instead of by the text id. The text begins with a hashed partition key, so
    /// the unique index on it took every new invocation on a random leaf: 13 of the 21 pages a group commit
    /// wrote at 64 callers. The text stays in `id` for people reading the file.
    /// Handlers' limits set at run time (`keel.concurrency`, `keel.rateLimits` as JSON text).
    private static let schemaV8 = """
        CREATE TABLE handler_limits (
            service TEXT NOT NULL,
            handler TEXT NOT NULL,
            concurrency TEXT,
            rate_limits TEXT,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (service, handler)
        ) WITHOUT ROWID;
        """

    /// Schedules: the definition and the progress as JSON (`ScheduleDefinition`, `ScheduleProgress`).
    private static let schemaV7 = """
        CREATE TABLE schedule (
            id TEXT PRIMARY KEY NOT NULL,
            definition TEXT NOT NULL,
            progress TEXT NOT NULL,
            declared INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        """

    /// Published events (with their planned deliveries as JSON) and the subscriptions that route them.
    private static let schemaV6 = """
        CREATE TABLE event (
            id TEXT PRIMARY KEY NOT NULL,
            name TEXT NOT NULL,
            key TEXT,
            data BLOB NOT NULL,
            metadata BLOB,
            deliveries TEXT NOT NULL,
            delivered INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX event_undelivered ON event (created_at) WHERE delivered = 0;
        CREATE INDEX event_expiry ON event (expires_at);
        CREATE TABLE event_subscription (
            id TEXT PRIMARY KEY NOT NULL,
            source TEXT NOT NULL,
            sink TEXT NOT NULL,
            options TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        """

    private static let schemaV5 = """
        CREATE TABLE invocation_v5 (
            lookup BLOB NOT NULL,
            id TEXT NOT NULL,
            partition_key INTEGER NOT NULL,
            service TEXT NOT NULL,
            handler TEXT NOT NULL,
            key TEXT,
            handler_kind TEXT,
            status TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            idempotency_key TEXT,
            created_at INTEGER NOT NULL,
            modified_at INTEGER NOT NULL,
            execute_at INTEGER,
            retry_count INTEGER NOT NULL,
            last_failure TEXT,
            result_kind TEXT CHECK (result_kind IN ('success', 'failure')),
            output BLOB,
            failure_code INTEGER,
            failure_message TEXT,
            failure_metadata TEXT,
            completed_at INTEGER,
            expires_at INTEGER,
            deployment_id TEXT,
            suspended_entries INTEGER
        );
        INSERT INTO invocation_v5 (lookup, id, partition_key, service, handler, key, handler_kind, status, sequence,
            idempotency_key, created_at, modified_at, execute_at, retry_count, last_failure, result_kind, output,
            failure_code, failure_message, failure_metadata, completed_at, expires_at, deployment_id, suspended_entries)
            SELECT keel_invocation_lookup(id), id, partition_key, service, handler, key, handler_kind, status,
            sequence, idempotency_key, created_at, modified_at, execute_at, retry_count, last_failure, result_kind,
            output, failure_code, failure_message, failure_metadata, completed_at, expires_at, deployment_id,
            suspended_entries
            FROM invocation ORDER BY sequence;
        DROP TABLE invocation;
        ALTER TABLE invocation_v5 RENAME TO invocation;
        CREATE UNIQUE INDEX invocation_lookup ON invocation (lookup);
        CREATE INDEX invocation_unfinished ON invocation (sequence) WHERE status <> '\(completed)';
        CREATE INDEX invocation_expiry ON invocation (expires_at) WHERE status = '\(completed)';
        """

    /// `keel_invocation_lookup(id)`: the lookup key of an id's text, or the text's bytes when it does not parse
    /// (still unique, so the migration keeps such a row rather than failing).
    private static let lookupFunction = DatabaseFunction("keel_invocation_lookup", argumentCount: 1, pure: true) {
        values in
        guard let text = String.fromDatabaseValue(values[0]) else { return nil }
        return InvocationID(text)?.lookupKey ?? Data(text.utf8)
    }
}

extension InvocationID {
    /// The invocation's key in the store: its UUID (whose first 48 bits are the creation time in milliseconds)
    /// then its partition key, both big-endian. Invocations created together sort together.
    static let lookupKeyCount = 24

    var lookupKey: Data {
        var bytes = Data(count: Self.lookupKeyCount)
        bytes.withUnsafeMutableBytes { writeLookupKey(into: $0) }
        return bytes
    }

    /// Writes `lookupKey`'s `lookupKeyCount` bytes to the start of `buffer`, which must have room for them.
    func writeLookupKey(into buffer: UnsafeMutableRawBufferPointer) {
        let uuid = uuid
        buffer.storeBytes(of: UInt64(truncatingIfNeeded: uuid >> 64).bigEndian, toByteOffset: 0, as: UInt64.self)
        buffer.storeBytes(of: UInt64(truncatingIfNeeded: uuid).bigEndian, toByteOffset: 8, as: UInt64.self)
        buffer.storeBytes(of: partitionKey.bigEndian, toByteOffset: 16, as: UInt64.self)
    }
}
