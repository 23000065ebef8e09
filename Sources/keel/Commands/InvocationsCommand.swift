import ArgumentParser
import Foundation
import KeelProtocol
import KeelServer
import NIOHTTP1

struct Invocations: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, inspect, cancel, kill, pause, purge and resume invocations.",
        subcommands: [List.self, Describe.self, Cancel.self, Kill.self, Pause.self, Purge.self, Resume.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List invocations, newest first (completed ones only with --all or --status completed).",
            aliases: ["ls"]
        )
        @OptionGroup var admin: AdminOptions
        @OptionGroup var filter: InvocationFilter
        @Option(help: "At most this many.") var limit = 100
        @Flag(help: "Oldest first.") var oldestFirst = false
        @Flag(help: "Print the rows as JSON instead of a table.") var json = false

        func run() async throws {
            let sql = """
                SELECT id, target, status, retry_count, created_at, modified_at, completion_failure, last_failure \
                FROM sys_invocation\(try filter.whereClause(includeCompletedByDefault: false)) \
                ORDER BY created_at \(oldestFirst ? "ASC" : "DESC"), id LIMIT \(max(1, limit))
                """
            let answer = try await admin.client.query(sql)
            if json {
                printJSON(answer.rows)
                return
            }
            let columns = ["id", "target", "status", "retries", "created", "failure"]
            let rows = answer.rows.map { row in
                [
                    cellText(row["id"]), cellText(row["target"]), cellText(row["status"]), cellText(row["retry_count"]),
                    cellText(row["created_at"]), cellText(row["completion_failure"] ?? row["last_failure"]),
                ]
            }
            print(TextTable(columns: columns, rows: rows).render(), terminator: "")
            FileHandle.standardError.write(Data("\(rows.count) invocations\n".utf8))
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show an invocation's status, retries, last failure and result, and its journal as a timeline.",
            aliases: ["get"]
        )
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The invocation id, inv_1…") var id: String
        @Flag(help: "Print the invocation and its journal as JSON.") var json = false

        func run() async throws {
            let invocation = try await admin.client.send(.GET, "/invocations/\(id)") as? [String: Any] ?? [:]
            let summary =
                try await admin.client.query(
                    "SELECT * FROM sys_invocation WHERE id = \(sqlLiteral(id))"
                ).rows.first ?? [:]
            let journal = try await admin.client.query(
                """
                SELECT "index", entry_type, name, completed, invoked_id, invoked_target, sleep_wakeup_at, \
                promise_name, value_utf8, failure FROM sys_journal WHERE id = \(sqlLiteral(id)) ORDER BY "index"
                """
            ).rows
            if json {
                printJSON(["invocation": invocation.merging(summary) { first, _ in first }, "journal": journal])
                return
            }
            print(Self.render(summary.isEmpty ? invocation : summary, journal: journal), terminator: "")
        }

        /// The summary lines, then one line per journal entry (a completed invocation's journal is gone).
        static func render(_ invocation: [String: Any], journal: [[String: Any]]) -> String {
            var out = ""
            for (label, key) in [
                ("ID", "id"), ("Target", "target"), ("Status", "status"), ("Created", "created_at"),
                ("Modified", "modified_at"), ("Scheduled for", "scheduled_start_at"), ("Completed", "completed_at"),
                ("Retries", "retry_count"), ("Last failure", "last_failure"), ("Deployment", "pinned_deployment_id"),
                ("Idempotency key", "idempotency_key"), ("Result", "completion_value_utf8"),
                ("Failure", "completion_failure"),
            ] {
                let value = cellText(invocation[key])
                if !value.isEmpty, !(key == "retry_count" && value == "0") {
                    out += label.padding(toLength: 16, withPad: " ", startingAt: 0) + value + "\n"
                }
            }
            guard !journal.isEmpty else {
                return out
                    + "Journal         \(cellText(invocation["status"]) == "completed" ? "(dropped on completion)" : "(empty)")\n"
            }
            out += "Journal\n"
            for entry in journal {
                let done = (entry["completed"] as? Int ?? 1) == 1
                var line = "  \(cellText(entry["index"]).padding(toLength: 4, withPad: " ", startingAt: 0))"
                line += done ? "✓ " : "… "
                line += cellText(entry["entry_type"])
                if let name = entry["name"] as? String { line += " \"\(name)\"" }
                for (key, prefix) in [
                    ("invoked_target", " → "), ("invoked_id", " → "), ("sleep_wakeup_at", " until "),
                    ("promise_name", " promise "), ("failure", " failed "), ("value_utf8", " = "),
                ] {
                    let value = cellText(entry[key])
                    if !value.isEmpty { line += prefix + (value.count > 80 ? String(value.prefix(79)) + "…" : value) }
                }
                out += line + "\n"
            }
            return out
        }
    }

    /// What cancel and kill act on: anything not completed yet.
    static let unfinished = InvocationFilter.statuses.filter { $0 != "completed" }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Cancel cooperatively: the handler gets a terminal error (409) at its next await and runs its compensations."
        )
        @OptionGroup var admin: AdminOptions
        @OptionGroup var selection: BulkSelection

        func run() async throws {
            try await selection.run(
                "cancel",
                verb: "cancel requested for",
                eligible: Invocations.unfinished,
                admin: admin
            )
        }
    }

    struct Kill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "End at once with 409 killed, without running compensations; the invocations it called are killed too."
        )
        @OptionGroup var admin: AdminOptions
        @OptionGroup var selection: BulkSelection

        func run() async throws {
            try await selection.run("kill", verb: "killed", eligible: Invocations.unfinished, admin: admin)
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Park a running or suspended invocation until it is resumed or killed (its current attempt is abandoned)."
        )
        @OptionGroup var admin: AdminOptions
        @OptionGroup var selection: BulkSelection
        @Option(
            help:
                "Pause it in this data directory while no server runs on it (when handlers keep the server too busy to answer)."
        )
        var dataDir: String?

        func run() async throws {
            if let dataDir {
                guard let text = selection.query, let invocation = InvocationID(text) else {
                    throw ValidationError("--data-dir pauses one invocation: name its id (inv_1…)")
                }
                try await OfflineOperations.pause(invocation, dataDirectory: dataDir)
                print("paused \(text) in \(dataDir); the next start does not run it")
                return
            }
            try await selection.run(
                "pause",
                verb: "paused",
                eligible: ["pending", "scheduled", "ready", "running", "backing-off", "suspended"],
                admin: admin
            )
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forget completed invocations and their outputs.",
            aliases: ["rm"]
        )
        @OptionGroup var admin: AdminOptions
        @OptionGroup var selection: BulkSelection

        func run() async throws {
            try await selection.run("purge", verb: "purged", eligible: ["completed"], admin: admin)
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume paused invocations with a fresh retry budget."
        )
        @OptionGroup var admin: AdminOptions
        @OptionGroup var selection: BulkSelection
        @Option(help: "Run them on this deployment from now on (dp_1…), e.g. one with the fix.") var deployment: String?

        func run() async throws {
            try await selection.run(
                "resume",
                verb: "resumed",
                eligible: ["paused"],
                admin: admin,
                suffix: deployment.map { "?deployment=\($0)" } ?? ""
            )
        }
    }
}
