import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import Testing

@testable import KeelSQLite

@Suite("SQLiteStore")
final class SQLiteStoreTests {
    let directory = TemporaryDirectory()

    @Test("commits are durable: WAL journal, synchronous=FULL and a busy timeout")
    func pragmas() async throws {
        let store = try SQLiteStore(directory: directory.newSubdirectory())
        #expect(try await store.scalar("PRAGMA journal_mode") == "wal")
        #expect(try await store.scalar("PRAGMA synchronous") == "2")
        #expect(try await store.scalar("PRAGMA busy_timeout") == "5000")
        await store.close()
    }

    @Test("a missing data directory is created, parents included")
    func createsDirectory() async throws {
        let nested = directory.newSubdirectory().appendingPathComponent("a/b", isDirectory: true)
        let store = try SQLiteStore(directory: nested.path, fileName: "data.sqlite")
        #expect(store.path == nested.appendingPathComponent("data.sqlite").path)
        #expect(FileManager.default.fileExists(atPath: store.path))
        await store.close()
    }

    @Test("partition keys are stored as their Int64 bit pattern, failure metadata as JSON")
    func columnEncodings() async throws {
        let store = try SQLiteStore(directory: directory.newSubdirectory())
        let id = StoreConformance.id(1, partition: UInt64.max)
        var record = StoreConformance.record(id, sequence: 1, status: .completed)
        record.result = .failure(Failure(code: 409, message: "taken", metadata: ["sku": "42"]))
        try await store.apply([.insertInvocation(record)])
        #expect(try await store.scalar("SELECT partition_key FROM invocation") == "-1")
        #expect(try await store.scalar("SELECT id FROM invocation") == id.description)
        #expect(try await store.scalar("SELECT json_extract(failure_metadata, '$.sku') FROM invocation") == "42")
        await store.close()
    }

    @Test("recovery, purge and journal reads use their indexes instead of scanning")
    func queryPlans() async throws {
        let store = try SQLiteStore(directory: directory.newSubdirectory())
        #expect(try await store.queryPlan(SQLiteStore.ReadSQL.unfinished).contains("invocation_unfinished"))
        #expect(try await store.queryPlan(SQLiteStore.WriteSQL.purgeExpired).contains("invocation_expiry"))
        #expect(try await store.queryPlan(SQLiteStore.ReadSQL.journal).contains("PRIMARY KEY"))
        #expect(try await store.queryPlan(SQLiteStore.ReadSQL.state).contains("PRIMARY KEY"))
        await store.close()
    }

    @Test("a full disk fails the batch with .diskFull, keeps earlier data and takes later batches")
    func diskFull() async throws {
        let database = directory.newSubdirectory()
        let store = try SQLiteStore(directory: database, configuration: .init(maxPageCount: 64))
        let earlier = StoreConformance.id(1)
        let big = StoreConformance.id(2)
        let later = StoreConformance.id(3)
        let input = StoreConformance.entry(1, "input")
        try await store.apply([
            .insertInvocation(StoreConformance.record(earlier, sequence: 1)),
            .appendJournal(earlier, index: 0, entry: input),
        ])

        let tooBig: [StoreOperation] =
            [.insertInvocation(StoreConformance.record(big, sequence: 2))]
            + (Int64(0)..<64).map { .appendJournal(big, index: $0, entry: JournalEntry(type: 2, payload: Data(count: 8_192))) }
        let error = await #expect(throws: StoreError.self) { try await store.apply(tooBig) }
        #expect(error?.code == .diskFull)
        #expect(error?.message.contains(store.path) == true)
        #expect(error?.message.contains("nothing of this batch was stored") == true)

        #expect(try await store.invocation(big) == nil)
        #expect(try await store.journal(of: big).isEmpty)
        #expect(try await store.unfinishedInvocations().map(\.id) == [earlier])
        #expect(try await store.journal(of: earlier) == [input])
        try await store.apply([.insertInvocation(StoreConformance.record(later, sequence: 3))])
        #expect(try await store.unfinishedInvocations().map(\.id) == [earlier, later])
        await store.close()

        let reopened = try SQLiteStore(directory: database)
        #expect(try await reopened.unfinishedInvocations().map(\.id) == [earlier, later])
        #expect(try await reopened.maxSequence() == 3)
        await reopened.close()
    }

    @Test("a database migrated by a newer Keel is refused with .schema")
    func schemaTooNew() async throws {
        let database = directory.newSubdirectory()
        let store = try SQLiteStore(directory: database)
        try await store.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v2-from-the-future')")
        await store.close()

        let error = #expect(throws: StoreError.self) { try SQLiteStore(directory: database) }
        #expect(error?.code == .schema)
        #expect(error?.message.contains("v2-from-the-future") == true)
        #expect(error?.message.contains("newer Keel") == true)
    }

    @Test("a file that is not a database is reported as corrupt")
    func notADatabase() throws {
        let database = directory.newSubdirectory()
        try FileManager.default.createDirectory(at: database, withIntermediateDirectories: true)
        let garbage = Data(repeating: 0x2A, count: 8_192)
        try garbage.write(to: database.appendingPathComponent("keel.sqlite"))

        let error = #expect(throws: StoreError.self) { try SQLiteStore(directory: database) }
        #expect(error?.code == .corrupt)
        #expect(error?.message.contains("keel.sqlite") == true)
    }

    @Test("a data directory that cannot be created is reported as read-only")
    func directoryCannotBeCreated() throws {
        let parent = directory.newSubdirectory()
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        let file = parent.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)

        let error = #expect(throws: StoreError.self) { try SQLiteStore(directory: file.appendingPathComponent("sub")) }
        #expect(error?.code == .readOnly)
        #expect(error?.message.contains(file.path) == true)
    }
}
