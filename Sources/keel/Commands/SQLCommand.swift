import ArgumentParser
import Foundation

/// `keel sql "SELECT …"`: runs a query on `POST /query` and prints a table (or the rows as JSON).
struct SQL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract:
            "Run a read-only SQL query over Restate's introspection tables (sys_invocation, sys_journal, state, …).",
        discussion: """
            Tables: sys_invocation, sys_journal, state, sys_keyed_service_status, sys_inbox, sys_idempotency, \
            sys_promise, sys_service, sys_deployment (docs/operate.md lists their columns).
            Example: keel sql "SELECT id, target, status FROM sys_invocation WHERE status <> 'completed'"
            """
    )

    @OptionGroup var admin: AdminOptions
    @Argument(help: "The query (one SELECT, WITH or VALUES statement).") var query: String
    @Flag(help: "Print the rows as JSON instead of a table.") var json = false

    func run() async throws {
        let started = ContinuousClock.now
        let answer = try await admin.client.query(query)
        if json {
            printJSON(answer.rows)
            return
        }
        print(
            TextTable(
                columns: answer.columns,
                rows: answer.rows.map { row in answer.columns.map { cellText(row[$0]) } }
            ).render(),
            terminator: ""
        )
        let elapsed = ContinuousClock.now - started
        FileHandle.standardError.write(
            Data(
                "\(answer.rows.count) rows. Query took \(elapsed.formatted(.units(allowed: [.seconds, .milliseconds], width: .narrow))).\n"
                    .utf8
            )
        )
    }
}

extension AdminClient {
    /// `POST /query`: the rows (NULL columns absent) and the columns in the statement's order.
    func query(_ sql: String) async throws -> (columns: [String], rows: [[String: Any]]) {
        let answer = try await send(.POST, "/query", body: ["query": sql]) as? [String: Any] ?? [:]
        let rows = answer["rows"] as? [[String: Any]] ?? []
        let columns = answer["columns"] as? [String] ?? Array(Set(rows.flatMap(\.keys))).sorted()
        return (columns, rows)
    }
}
