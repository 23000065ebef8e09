import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import SwiftProtobuf
import Testing

/// What `/query` must answer on every store: Restate's tables over a store filled through `Store.apply`, the
/// read-only rule and the limits. Written against the protocols only, so the PostgreSQL store runs it unchanged.
public struct IntrospectionConformance: Sendable {
    public typealias Subject = any Store & IntrospectionStore

    /// Creates a store over a new, empty database.
    let freshStore: @Sendable () async throws -> Subject

    public init(freshStore: @escaping @Sendable () async throws -> Subject) {
        self.freshStore = freshStore
    }

    public enum Check: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case invocationStatuses =
            "sys_invocation derives Restate's statuses, targets, service types, failures and RFC 3339 times"
        case journalEntries =
            "sys_journal numbers each journal from 0 and decodes types, names, completion, targets and values"
        case stateAndObjects = "state, sys_keyed_service_status, sys_inbox, sys_idempotency and sys_promise"
        case catalogTables = "sys_service and sys_deployment show the catalog the engine passes in"
        case sqlFeatures = "joins, CTEs, GROUP BY, window functions and parameters-free filters work over the views"
        case readOnly = "writes, ATTACH, PRAGMA, DDL and a second statement are refused; nothing changes"
        case limits = "a query past its time limit is stopped; one answering too many rows is refused"
        case errors = "unknown tables and columns and bad SQL are .invalid with SQLite's reason"

        public var testDescription: String { rawValue }
    }

    public func run(_ check: Check) async throws {
        let store = try await freshStore()
        do {
            switch check {
            case .invocationStatuses: try await invocationStatuses(store)
            case .journalEntries: try await journalEntries(store)
            case .stateAndObjects: try await stateAndObjects(store)
            case .catalogTables: try await catalogTables(store)
            case .sqlFeatures: try await sqlFeatures(store)
            case .readOnly: try await readOnly(store)
            case .limits: try await limits(store)
            case .errors: try await errors(store)
            }
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    // MARK: - Fixtures

    static func id(_ number: UInt128) -> InvocationID { InvocationID(partitionKey: 3, uuid: number) }

    /// 2026-01-02T03:04:05.678Z
    static let instant: Int64 = 1_767_323_045_678

    static func record(
        _ number: UInt128,
        _ status: InvocationStatus,
        service: String = "Counter",
        handler: String = "add",
        key: String? = "a",
        kind: HandlerKind? = .exclusive,
        retries: Int = 0
    ) -> InvocationRecord {
        InvocationRecord(
            id: id(number),
            target: InvocationTarget(service: service, handler: handler, key: key),
            handlerKind: key == nil ? nil : kind,
            status: status,
            sequence: Int64(number),
            createdAt: instant + Int64(number),
            executeAt: status == .scheduled ? instant + 60_000 : nil,
            retryCount: retries,
            lastFailure: retries > 0 ? "[500] card service down" : nil
        )
    }

    func rows(
        _ store: Subject,
        _ sql: String,
        catalog: IntrospectionCatalog = .init()
    ) async throws -> [[String: IntrospectionResult.Value]] {
        let result = try await store.introspect(sql, catalog: catalog, limits: .init())
        return result.rows.map { Dictionary(uniqueKeysWithValues: zip(result.columns, $0)) }
    }

    static func entry<M: SwiftProtobuf.Message>(_ type: MessageType, _ message: M) throws -> JournalEntry {
        JournalEntry(type: type.rawValue, payload: try message.serializedData())
    }

    // MARK: - Checks

    func invocationStatuses(_ store: Subject) async throws {
        try await store.apply([
            .insertInvocation(Self.record(1, .inboxed)),
            .insertInvocation(Self.record(2, .scheduled, key: nil)),
            .insertInvocation(Self.record(3, .invoked, handler: "run", kind: .workflow)),
            .insertInvocation(Self.record(4, .invoked, retries: 2)),
            .insertInvocation(Self.record(5, .invoked, service: "Greeter", handler: "greet", key: nil)),
            .insertInvocation(Self.record(6, .suspended)),
            .insertInvocation(Self.record(7, .paused)),
            .insertInvocation(Self.record(8, .invoked)),
            .insertInvocation(Self.record(9, .invoked)),
            .completeInvocation(
                Self.id(8),
                result: .failure(Failure(code: 409, message: "canceled")),
                completedAt: Self.instant + 1_000,
                expiresAt: nil
            ),
            .completeInvocation(
                Self.id(9),
                result: .success(Data("\"done\"".utf8)),
                completedAt: Self.instant + 2_000,
                expiresAt: nil
            ),
        ])
        // The trace id comes from the input's traceparent (stored there when tracing is on); one that does not parse
        // gives none.
        for (number, traceparent) in [
            (6, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), (7, "00-not-a-trace-01"),
        ] {
            var input = PBInputCommandMessage()
            input.headers = [
                PBHeader.with {
                    $0.key = "traceparent"
                    $0.value = traceparent
                }
            ]
            try await store.apply([
                .appendJournal(
                    Self.id(UInt128(number)),
                    index: Int64(100 + number),
                    entry: JournalEntry(type: MessageType.input.rawValue, payload: try input.serializedData())
                )
            ])
        }
        let catalog = IntrospectionCatalog(
            services: [.init(name: "Counter", revision: 1, isPublic: true, type: "virtual_object", deploymentID: nil)],
            running: [Self.id(5).description]
        )
        let rows = try await rows(store, "SELECT * FROM sys_invocation ORDER BY created_at", catalog: catalog)
        #expect(rows[5]["trace_id"] == .text("4bf92f3577b34da6a3ce929d0e0e4736"))
        #expect(rows[6]["trace_id"] == .null)
        #expect(rows[0]["trace_id"] == .null)
        #expect(
            rows.map { $0["status"] }
                == [
                    "pending", "scheduled", "ready", "backing-off", "running", "suspended", "paused", "completed",
                    "completed",
                ].map { .text($0) }
        )
        #expect(rows[0]["id"] == .text(Self.id(1).description))
        #expect(rows[0]["target"] == .text("Counter/a/add"))
        #expect(rows[1]["target"] == .text("Counter/add"))
        #expect(rows[1]["target_service_key"] == .null)
        #expect(rows[1]["scheduled_start_at"] == .text("2026-01-02T03:05:05.678Z"))
        #expect(rows[0]["created_at"] == .text("2026-01-02T03:04:05.679Z"))
        // Counter's type comes from the catalog; Greeter is not in it and is read off the row.
        #expect(rows[0]["target_service_ty"] == .text("virtual_object"))
        #expect(rows[4]["target_service_ty"] == .text("service"))
        #expect(rows[3]["retry_count"] == .integer(2))
        #expect(rows[3]["last_failure"] == .text("[500] card service down"))
        #expect(rows[7]["completion_result"] == .text("failure"))
        #expect(rows[7]["completion_failure"] == .text("[409] canceled"))
        #expect(rows[7]["completed_at"] == .text("2026-01-02T03:04:06.678Z"))
        #expect(rows[8]["completion_result"] == .text("success"))
        #expect(rows[8]["completion_value_utf8"] == .text("\"done\""))
        #expect(rows[8]["completion_failure"] == .null)
    }

    func journalEntries(_ store: Subject) async throws {
        let first = Self.id(1)
        let second = Self.id(2)
        var input = PBInputCommandMessage()
        input.value.content = Data("{\"amount\":5}".utf8)
        var run = PBRunCommandMessage()
        run.name = "charge"
        run.resultCompletionID = 1
        var runDone = PBNotificationTemplate()
        runDone.id = .completionID(1)
        runDone.result = .value(PBValue.with { $0.content = Data("\"ch_1\"".utf8) })
        var call = PBCallCommandMessage()
        call.serviceName = "Inventory"
        call.key = "sku-1"
        call.handlerName = "reserve"
        call.invocationIDNotificationIdx = 2
        call.resultCompletionID = 3
        var callID = PBNotificationTemplate()
        callID.id = .completionID(2)
        callID.result = .invocationID("inv_1callee")
        var sleep = PBSleepCommandMessage()
        sleep.wakeUpTime = UInt64(Self.instant)
        sleep.resultCompletionID = 4
        var output = PBOutputCommandMessage()
        output.failure = PBFailure.with {
            $0.code = 402
            $0.message = "declined"
        }
        let binary = JournalEntry(type: MessageType.setState.rawValue, payload: Data([0xFF, 0x00, 0x12]))
        try await store.apply([
            .insertInvocation(Self.record(1, .invoked)),
            .insertInvocation(Self.record(2, .invoked, key: "b")),
            // Journal indexes are a global sequence in the store; each journal still reads from 0.
            .appendJournal(second, index: 10, entry: try Self.entry(.input, input)),
            .appendJournal(first, index: 11, entry: try Self.entry(.input, input)),
            .appendJournal(first, index: 12, entry: try Self.entry(.run, run)),
            .appendJournal(first, index: 13, entry: try Self.entry(.runCompletion, runDone)),
            .appendJournal(first, index: 14, entry: try Self.entry(.call, call)),
            .appendJournal(first, index: 15, entry: try Self.entry(.callInvocationIdCompletion, callID)),
            .appendJournal(first, index: 16, entry: try Self.entry(.sleep, sleep)),
            .appendJournal(first, index: 17, entry: try Self.entry(.output, output)),
            .appendJournal(first, index: 18, entry: binary),
            .appendJournal(first, index: 19, entry: JournalEntry(type: 0xFC01, payload: Data())),
        ])
        let rows = try await rows(
            store,
            "SELECT * FROM sys_journal WHERE id = '\(first)' ORDER BY \"index\""
        )
        #expect(rows.map { $0["index"] } == (0..<9).map { .integer($0) })
        #expect(
            rows.map { $0["entry_type"] }
                == [
                    "Command: Input", "Command: Run", "Notification: Run", "Command: Call",
                    "Notification: CallInvocationId",
                    "Command: Sleep", "Command: Output", "Command: SetState", "Custom: 0xFC01",
                ].map { .text($0) }
        )
        #expect(rows[0]["value_utf8"] == .text("{\"amount\":5}"))
        #expect(rows[1]["name"] == .text("charge"))
        #expect(rows[1]["completed"] == .integer(1))
        #expect(rows[2]["value_utf8"] == .text("\"ch_1\""))
        #expect(rows[3]["invoked_target"] == .text("Inventory/sku-1/reserve"))
        // The call's result (completion 3) has not arrived; its invocation id (2) has.
        #expect(rows[3]["completed"] == .integer(0))
        #expect(rows[4]["invoked_id"] == .text("inv_1callee"))
        #expect(rows[5]["sleep_wakeup_at"] == .text("2026-01-02T03:04:05.678Z"))
        #expect(rows[5]["completed"] == .integer(0))
        #expect(rows[6]["failure"] == .text("[402] declined"))
        // An entry that does not decode keeps its type and raw bytes.
        #expect(rows[7]["raw"] == .blob(Data([0xFF, 0x00, 0x12])))
        #expect(rows[7]["version"] == .integer(2))
        let other = try await self.rows(store, "SELECT \"index\", entry_type FROM sys_journal WHERE id = '\(second)'")
        #expect(other.count == 1)
        #expect(other.first?["index"] == .integer(0))
    }

    func stateAndObjects(_ store: Subject) async throws {
        let counter = ObjectAddress(service: "Counter", key: "a")
        try await store.apply([
            .setState(counter, name: Data("count".utf8), value: Data("42".utf8)),
            .setState(counter, name: Data("blob".utf8), value: Data([0xFF, 0xFE])),
            .insertInvocation(Self.record(1, .invoked)),
            .insertInvocation(Self.record(2, .inboxed)),
            .insertInvocation(Self.record(3, .invoked, handler: "get", kind: .shared)),
            .insertInvocation(
                InvocationRecord(
                    id: Self.id(4),
                    target: InvocationTarget(service: "Greeter", handler: "greet", key: nil),
                    handlerKind: nil,
                    status: .invoked,
                    sequence: 4,
                    idempotencyKey: "order-7",
                    createdAt: Self.instant
                )
            ),
            .completePromise(
                ObjectAddress(service: "Signup", key: "u1"),
                name: "email-verified",
                result: .success(Data("true".utf8))
            ),
            .completePromise(
                ObjectAddress(service: "Signup", key: "u2"),
                name: "email-verified",
                result: .failure(Failure(code: 410, message: "expired"))
            ),
        ])
        let state = try await rows(store, "SELECT * FROM state ORDER BY key")
        #expect(state.count == 2)
        #expect(state[0]["key"] == .text("blob"))
        #expect(state[0]["value_utf8"] == nil || state[0]["value_utf8"] == .null)
        #expect(state[0]["value"] == .blob(Data([0xFF, 0xFE])))
        #expect(state[1]["service_name"] == .text("Counter"))
        #expect(state[1]["service_key"] == .text("a"))
        #expect(state[1]["value_utf8"] == .text("42"))
        #expect(state[1]["value_length"] == .integer(2))
        #expect(state[1]["key_length"] == .integer(5))

        let locks = try await rows(store, "SELECT * FROM sys_keyed_service_status")
        #expect(locks.map { $0["invocation_id"] } == [.text(Self.id(1).description)])
        let inbox = try await rows(store, "SELECT * FROM sys_inbox")
        #expect(inbox.map { $0["id"] } == [.text(Self.id(2).description)])
        #expect(inbox.first?["service_key"] == .text("a"))
        let idempotency = try await rows(store, "SELECT * FROM sys_idempotency")
        #expect(idempotency.count == 1)
        #expect(idempotency.first?["idempotency_key"] == .text("order-7"))
        #expect(idempotency.first?["service_handler"] == .text("greet"))
        let promises = try await rows(store, "SELECT * FROM sys_promise ORDER BY service_key")
        #expect(promises.count == 2)
        #expect(promises[0]["key"] == .text("email-verified"))
        #expect(promises[0]["completion_success_value_utf8"] == .text("true"))
        #expect(promises[1]["completion_failure"] == .text("[410] expired"))
    }

    func catalogTables(_ store: Subject) async throws {
        let catalog = IntrospectionCatalog(
            services: [
                .init(name: "Greeter", revision: 2, isPublic: true, type: "service", deploymentID: "dp_1"),
                .init(name: "Cart", revision: 1, isPublic: false, type: "virtual_object", deploymentID: "dp_1"),
            ],
            deployments: [
                .init(
                    id: "dp_1",
                    endpoint: "http://localhost:9080/",
                    createdAt: Self.instant,
                    minProtocolVersion: 5,
                    maxProtocolVersion: 6,
                    services: ["Cart", "Greeter"]
                )
            ]
        )
        let services = try await rows(store, "SELECT * FROM sys_service ORDER BY name", catalog: catalog)
        #expect(services.map { $0["name"] } == [.text("Cart"), .text("Greeter")])
        #expect(services[0]["public"] == .integer(0))
        #expect(services[1]["revision"] == .integer(2))
        let deployments = try await rows(store, "SELECT * FROM sys_deployment", catalog: catalog)
        #expect(deployments.first?["endpoint"] == .text("http://localhost:9080/"))
        #expect(deployments.first?["created_at"] == .text("2026-01-02T03:04:05.678Z"))
        #expect(deployments.first?["services"] == .text("[\"Cart\",\"Greeter\"]"))
        // The next query gets the catalog it passes, not the previous one.
        #expect(try await rows(store, "SELECT * FROM sys_service").isEmpty)
    }

    func sqlFeatures(_ store: Subject) async throws {
        try await store.apply(
            (1...6).map {
                .insertInvocation(Self.record(UInt128($0), $0 % 2 == 0 ? .suspended : .invoked, key: "k\($0 % 3)"))
            }
                + [
                    .appendJournal(
                        Self.id(1),
                        index: 1,
                        entry: JournalEntry(type: MessageType.input.rawValue, payload: Data())
                    )
                ]
        )
        let grouped = try await rows(
            store,
            "SELECT status, count(*) AS n FROM sys_invocation GROUP BY status ORDER BY status"
        )
        #expect(grouped.map { $0["n"] } == [.integer(3), .integer(3)])
        // An answer without rows still names its columns.
        let empty = try await store.introspect(
            "SELECT id, status AS state FROM sys_invocation WHERE status = 'nowhere'",
            catalog: .init(),
            limits: .init()
        )
        #expect(empty.columns == ["id", "state"] && empty.rows.isEmpty, "\(empty.columns)")
        let joined = try await rows(
            store,
            """
            WITH suspended AS (SELECT id FROM sys_invocation WHERE status = 'suspended')
            SELECT inv.id, inv.target_service_key, j.entry_type,
                row_number() OVER (ORDER BY inv.created_at DESC) AS position
            FROM sys_invocation inv LEFT JOIN sys_journal j ON j.id = inv.id
            WHERE inv.id NOT IN (SELECT id FROM suspended)
            ORDER BY inv.created_at DESC
            """
        )
        #expect(joined.map { $0["position"] } == [.integer(1), .integer(2), .integer(3)])
        #expect(joined.last?["entry_type"] == .text("Command: Input"))
        let values = try await rows(store, "VALUES (1, 'a')")
        #expect(values.count == 1)
    }

    func readOnly(_ store: Subject) async throws {
        try await store.apply([.insertInvocation(Self.record(1, .invoked))])
        let refused = [
            "DELETE FROM invocation",
            "UPDATE invocation SET status = 'completed'",
            "INSERT INTO state VALUES ('a', 'b', x'00', x'00')",
            "  -- a comment first\n  DROP TABLE invocation",
            "/* block */ CREATE TABLE x (a)",
            "ATTACH DATABASE '/tmp/other.sqlite' AS other",
            "PRAGMA writable_schema = 1",
            "WITH doomed AS (SELECT id FROM invocation) DELETE FROM invocation WHERE id IN (SELECT id FROM doomed)",
            "VACUUM",
            "REINDEX",
        ]
        for sql in refused {
            await #expect(throws: IntrospectionError.readOnly(IntrospectionQuery.readOnlyMessage), "\(sql)") {
                try await store.introspect(sql, catalog: .init(), limits: .init())
            }
        }
        await #expect(throws: IntrospectionError.self) {
            try await store.introspect("SELECT 1; DELETE FROM invocation", catalog: .init(), limits: .init())
        }
        #expect(try await store.invocation(Self.id(1)) != nil)
        #expect(try await rows(store, "SELECT id FROM sys_invocation").count == 1)
    }

    func limits(_ store: Subject) async throws {
        let forever = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
        await #expect(throws: IntrospectionError.timeout(.milliseconds(200))) {
            try await store.introspect(forever, catalog: .init(), limits: .init(time: .milliseconds(200)))
        }
        let many = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 50) SELECT x FROM n"
        await #expect(throws: IntrospectionError.tooManyRows(10)) {
            try await store.introspect(many, catalog: .init(), limits: .init(rows: 10))
        }
        #expect(try await store.introspect(many, catalog: .init(), limits: .init(rows: 50)).rows.count == 50)
    }

    func errors(_ store: Subject) async throws {
        for sql in ["SELECT * FROM sys_nothing", "SELECT nope FROM sys_invocation", "SELECT FROM WHERE", ""] {
            do {
                _ = try await store.introspect(sql, catalog: .init(), limits: .init())
                Issue.record("\(sql) was answered")
            } catch {
                guard case .invalid(let message) = error else {
                    Issue.record("\(sql): \(error)")
                    continue
                }
                #expect(!message.isEmpty)
            }
        }
    }
}
