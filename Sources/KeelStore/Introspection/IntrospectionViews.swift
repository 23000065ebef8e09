import Foundation
import KeelCore
import KeelProtocol

/// What the engine knows and the store's tables do not: the registry's services and deployments, and the
/// attempts in flight. A store shows them as `sys_service` and `sys_deployment` and uses `running` to tell a
/// running invocation from one that is ready or backing off.
public struct IntrospectionCatalog: Hashable, Sendable {
    public struct Service: Hashable, Sendable {
        public var name: String
        public var revision: Int64
        public var isPublic: Bool
        /// `service`, `virtual_object` or `workflow`.
        public var type: String
        public var deploymentID: String?

        public init(name: String, revision: Int64, isPublic: Bool, type: String, deploymentID: String?) {
            self.name = name
            self.revision = revision
            self.isPublic = isPublic
            self.type = type
            self.deploymentID = deploymentID
        }
    }

    public struct Deployment: Hashable, Sendable {
        public var id: String
        /// `http` (Keel has no Lambda deployments).
        public var type: String
        public var endpoint: String
        /// Milliseconds since the UNIX epoch.
        public var createdAt: Int64
        public var minProtocolVersion: Int64
        public var maxProtocolVersion: Int64
        public var services: [String]

        public init(
            id: String,
            type: String = "http",
            endpoint: String,
            createdAt: Int64,
            minProtocolVersion: Int64,
            maxProtocolVersion: Int64,
            services: [String]
        ) {
            self.id = id
            self.type = type
            self.endpoint = endpoint
            self.createdAt = createdAt
            self.minProtocolVersion = minProtocolVersion
            self.maxProtocolVersion = maxProtocolVersion
            self.services = services
        }
    }

    public var services: [Service]
    public var deployments: [Deployment]
    /// Invocation ids with an attempt in flight now.
    public var running: Set<String>

    public init(services: [Service] = [], deployments: [Deployment] = [], running: Set<String> = []) {
        self.services = services
        self.deployments = deployments
        self.running = running
    }
}

/// Restate's introspection tables as views over Keel's store, defined once for every store.
///
/// The SQL is the subset SQLite and PostgreSQL share. What it cannot say portably each store provides on its
/// query connection:
/// - `keel_time(ms)`: milliseconds since the epoch as RFC 3339 text in UTC (`2026-12-06T10:00:00.000Z`), NULL
///   for NULL;
/// - `keel_utf8(bytes)`: the bytes as text when they are UTF-8, else NULL;
/// - `keel_journal`: the journal with each entry's facts decoded (`journalColumns`, from `JournalEntryFacts`):
///   SQLite as a view calling a function of its own, PostgreSQL as a session table Keel fills before the query.
///
/// The catalog tables (`sys_service`, `sys_deployment`, `keel_running`) are session tables the store fills from
/// `IntrospectionCatalog` before each query. Store tables are named through `table(_:)` (SQLite's temporary
/// views shadow them, so it qualifies them with `main.`).
public enum IntrospectionViews {
    /// The catalog's session tables: `sys_service` and `sys_deployment` as Restate names them, and the ids of the
    /// invocations with an attempt in flight.
    public static let catalogTables: [(name: String, columns: String)] = [
        (
            "sys_service",
            "name TEXT NOT NULL, revision INTEGER NOT NULL, public INTEGER NOT NULL, ty TEXT NOT NULL, deployment_id TEXT"
        ),
        (
            "sys_deployment",
            """
            id TEXT NOT NULL, ty TEXT NOT NULL, endpoint TEXT NOT NULL, created_at TEXT NOT NULL, \
            min_service_protocol_version INTEGER NOT NULL, max_service_protocol_version INTEGER NOT NULL, \
            services TEXT NOT NULL
            """
        ),
        ("keel_running", "id TEXT NOT NULL PRIMARY KEY"),
    ]

    /// The catalog's rows for each table of `catalogTables`, in its column order (timestamps already as text).
    public static func catalogRows(_ catalog: IntrospectionCatalog) -> [String: [[IntrospectionResult.Value]]] {
        [
            "sys_service": catalog.services.map {
                [
                    .text($0.name), .integer($0.revision), .integer($0.isPublic ? 1 : 0), .text($0.type),
                    $0.deploymentID.map { .text($0) } ?? .null,
                ]
            },
            "sys_deployment": catalog.deployments.map {
                [
                    .text($0.id), .text($0.type), .text($0.endpoint), .text(rfc3339($0.createdAt)),
                    .integer($0.minProtocolVersion), .integer($0.maxProtocolVersion), .text(jsonArray($0.services)),
                ]
            },
            "keel_running": catalog.running.sorted().map { [.text($0)] },
        ]
    }

    /// `keel_journal`'s columns, in order: the stored entry (`invocation_sequence`, `idx`, `type`, `payload`),
    /// then its facts: `entry_type`, `name`, `completion_id` (the notification that completes a command),
    /// `notification_id`, `invoked_id`, `invoked_target`, `sleep_wakeup_at` (ms), `promise_name`, `value_utf8`,
    /// `failure`, `trace_id`.
    public static let journalColumns: [(name: String, type: String)] = [
        ("invocation_sequence", "BIGINT"), ("idx", "BIGINT"), ("type", "BIGINT"), ("payload", "BYTEA"),
        ("entry_type", "TEXT"), ("name", "TEXT"), ("completion_id", "BIGINT"), ("notification_id", "BIGINT"),
        ("invoked_id", "TEXT"), ("invoked_target", "TEXT"), ("sleep_wakeup_at", "BIGINT"), ("promise_name", "TEXT"),
        ("value_utf8", "TEXT"), ("failure", "TEXT"), ("trace_id", "TEXT"),
    ]

    /// The facts of one entry, in the order of `journalColumns` after its first four.
    public static func journalFacts(type: Int64, payload: Data) -> [IntrospectionResult.Value] {
        guard let type = UInt16(exactly: type) else { return journalColumns.dropFirst(4).map { _ in .null } }
        let facts = JournalEntryFacts(type: type, payload: payload)
        return journalColumns.dropFirst(4).map { Self.field(of: facts, $0.name) }
    }

    /// Each view's name and its `SELECT`, with the store's tables named by `table`; the journal is read through
    /// `keel_journal`.
    public static func views(table: (String) -> String) -> [(name: String, select: String)] {
        let invocation = table("invocation")
        let journal = "keel_journal"
        let locking = [HandlerKind.exclusive, .workflow].map { "'\($0.rawValue)'" }.joined(separator: ", ")
        return [
            (
                "sys_invocation",
                """
                SELECT
                    i.id AS id,
                    i.service || '/' || CASE WHEN i.key IS NULL THEN '' ELSE i.key || '/' END || i.handler AS target,
                    i.service AS target_service_name,
                    i.key AS target_service_key,
                    i.handler AS target_handler_name,
                    COALESCE(s.ty, CASE WHEN i.key IS NULL THEN 'service'
                        WHEN i.handler_kind = '\(HandlerKind.workflow.rawValue)' THEN 'workflow'
                        ELSE 'virtual_object' END) AS target_service_ty,
                    i.idempotency_key AS idempotency_key,
                    i.deployment_id AS pinned_deployment_id,
                    (SELECT t.trace_id FROM \(journal) t
                        WHERE t.invocation_sequence = i.sequence AND t.type = \(MessageType.input.rawValue)
                        ORDER BY t.idx LIMIT 1) AS trace_id,
                    (SELECT count(*) FROM \(journal) j WHERE j.invocation_sequence = i.sequence) AS journal_size,
                    keel_time(i.created_at) AS created_at,
                    keel_time(i.modified_at) AS modified_at,
                    CASE WHEN i.status = 'scheduled' THEN keel_time(i.execute_at) END AS scheduled_start_at,
                    keel_time(i.completed_at) AS completed_at,
                    i.retry_count AS retry_count,
                    i.deployment_id AS last_attempt_deployment_id,
                    i.last_failure AS last_failure,
                    CASE i.status
                        WHEN 'inboxed' THEN 'pending'
                        WHEN 'invoked' THEN CASE WHEN r.id IS NOT NULL THEN 'running'
                            WHEN i.retry_count > 0 THEN 'backing-off' ELSE 'ready' END
                        ELSE i.status END AS status,
                    i.result_kind AS completion_result,
                    CASE WHEN i.result_kind = 'failure'
                        THEN '[' || i.failure_code || '] ' || i.failure_message END AS completion_failure,
                    CASE WHEN i.result_kind = 'success' THEN keel_utf8(i.output) END AS completion_value_utf8,
                    keel_time(i.expires_at) AS expires_at
                FROM \(invocation) i
                LEFT JOIN sys_service s ON s.name = i.service
                LEFT JOIN keel_running r ON r.id = i.id
                """
            ),
            (
                "sys_journal",
                """
                SELECT
                    i.id AS id,
                    (SELECT count(*) FROM \(journal) p
                        WHERE p.invocation_sequence = j.invocation_sequence AND p.idx < j.idx) AS "index",
                    j.entry_type AS entry_type,
                    j.name AS name,
                    CASE WHEN j.completion_id IS NULL THEN 1
                        WHEN EXISTS (SELECT 1 FROM \(journal) n
                            WHERE n.invocation_sequence = j.invocation_sequence AND n.type >= 32768
                            AND n.notification_id = j.completion_id) THEN 1
                        ELSE 0 END AS completed,
                    j.invoked_id AS invoked_id,
                    j.invoked_target AS invoked_target,
                    keel_time(j.sleep_wakeup_at) AS sleep_wakeup_at,
                    j.promise_name AS promise_name,
                    j.value_utf8 AS value_utf8,
                    j.failure AS failure,
                    j.payload AS raw,
                    2 AS version
                FROM \(journal) j JOIN \(invocation) i ON i.sequence = j.invocation_sequence
                """
            ),
            (
                "state",
                """
                SELECT
                    s.service AS service_name,
                    s.key AS service_key,
                    keel_utf8(s.name) AS key,
                    length(s.name) AS key_length,
                    keel_utf8(s.value) AS value_utf8,
                    s.value AS value,
                    length(s.value) AS value_length
                FROM \(table("state")) s
                """
            ),
            (
                "sys_keyed_service_status",
                """
                SELECT service AS service_name, key AS service_key, id AS invocation_id
                FROM \(invocation)
                WHERE key IS NOT NULL AND handler_kind IN (\(locking))
                    AND status IN ('invoked', 'suspended', 'paused')
                """
            ),
            (
                "sys_inbox",
                """
                SELECT service AS service_name, key AS service_key, id, sequence AS sequence_number,
                    keel_time(created_at) AS created_at
                FROM \(invocation) WHERE status = 'inboxed'
                """
            ),
            (
                "sys_idempotency",
                """
                SELECT service AS service_name, key AS service_key, handler AS service_handler, idempotency_key,
                    id AS invocation_id
                FROM \(invocation) WHERE idempotency_key IS NOT NULL
                """
            ),
            (
                "sys_promise",
                """
                SELECT service AS service_name, key AS service_key, name AS key, 1 AS completed,
                    CASE WHEN result_kind = 'success' THEN output END AS completion_success_value,
                    CASE WHEN result_kind = 'success' THEN keel_utf8(output) END AS completion_success_value_utf8,
                    CASE WHEN result_kind = 'failure'
                        THEN '[' || failure_code || '] ' || failure_message END AS completion_failure
                FROM \(table("promise"))
                """
            ),
        ]
    }

    /// Every table a query can name, in the order `docs/operate.md` lists them.
    public static let tableNames = [
        "sys_invocation", "sys_journal", "state", "sys_keyed_service_status", "sys_inbox", "sys_idempotency",
        "sys_promise", "sys_service", "sys_deployment",
    ]

    /// `keel_time`: RFC 3339 in UTC with milliseconds.
    public static func rfc3339(_ milliseconds: Int64) -> String {
        let (seconds, millis) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        let adjusted = millis < 0 ? (seconds - 1, millis + 1000) : (seconds, millis)
        let (days, secondOfDay) = adjusted.0.quotientAndRemainder(dividingBy: 86_400)
        let (day, second) = secondOfDay < 0 ? (days - 1, secondOfDay + 86_400) : (days, secondOfDay)
        let civil = civilDate(daysSinceEpoch: day)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(civil.year, 4))-\(pad(civil.month, 2))-\(pad(civil.day, 2))T"
            + "\(pad(second / 3600, 2)):\(pad(second % 3600 / 60, 2)):\(pad(second % 60, 2)).\(pad(adjusted.1, 3))Z"
    }

    /// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian), for any day an Int64 of milliseconds
    /// reaches.
    private static func civilDate(daysSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shifted = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shifted + 2) / 5 + 1
        let month = shifted < 10 ? shifted + 3 : shifted - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func jsonArray(_ strings: [String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: strings, options: [.withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// `keel_entry(type, payload, field)`.
    public static func entryField(type: Int64, payload: Data, field: String) -> IntrospectionResult.Value {
        guard let type = UInt16(exactly: type) else { return .null }
        return Self.field(of: JournalEntryFacts(type: type, payload: payload), field)
    }

    /// One of `journalColumns`' facts of a decoded entry.
    static func field(of facts: JournalEntryFacts, _ field: String) -> IntrospectionResult.Value {
        func text(_ value: String?) -> IntrospectionResult.Value { value.map { .text($0) } ?? .null }
        func integer(_ value: UInt32?) -> IntrospectionResult.Value { value.map { .integer(Int64($0)) } ?? .null }
        switch field {
        case "entry_type": return .text(facts.entryType)
        case "name": return text(facts.name)
        case "completion_id": return integer(facts.completionIDs.last)
        case "notification_id": return integer(facts.notificationID)
        case "invoked_id": return text(facts.invokedID)
        case "invoked_target": return text(facts.invokedTarget)
        case "sleep_wakeup_at": return facts.sleepWakeUpAt.map { .integer($0) } ?? .null
        case "promise_name": return text(facts.promiseName)
        case "value_utf8": return text(facts.value.flatMap { String(validating: $0, as: UTF8.self) })
        case "failure": return text(facts.failure)
        case "trace_id": return text(facts.traceID)
        default: return .null
        }
    }
}
