import ArgumentParser
import Foundation

/// `keel schedules …`: cron and interval schedules (Temporal's shape on the admin API).
struct Schedules: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list, describe, pause, resume, trigger and delete schedules (cron and intervals).",
        subcommands: [
            List.self, Describe.self, Create.self, Pause.self, Resume.self, Trigger.self, Delete.self,
        ]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List schedules with their next run.")
        @OptionGroup var admin: AdminOptions

        @Flag(help: "Print the admin API's JSON instead of a table.")
        var json = false

        func run() async throws {
            let answer = try await admin.client.send(.GET, "/schedules")
            guard !json else { return printJSON(answer) }
            let schedules = (answer as? [String: Any])?["schedules"] as? [[String: Any]] ?? []
            var rows = [["ID", "WHEN", "SINK", "STATE", "NEXT", "RUNS"]]
            for schedule in schedules {
                let spec = schedule["spec"] as? [String: Any] ?? [:]
                var when = (spec["cron"] as? [String] ?? []).joined(separator: "; ")
                let intervals = (spec["interval"] as? [[String: Any]] ?? []).compactMap { $0["every"] as? String }
                if !intervals.isEmpty {
                    when += (when.isEmpty ? "" : "; ") + intervals.map { "every \($0)" }.joined(separator: "; ")
                }
                if let zone = spec["timeZone"] as? String { when += " (\(zone))" }
                let info = schedule["info"] as? [String: Any] ?? [:]
                let paused = (schedule["state"] as? [String: Any])?["paused"] as? Bool ?? false
                rows.append([
                    schedule["id"] as? String ?? "?",
                    when,
                    (schedule["action"] as? [String: Any])?["sink"] as? String ?? "?",
                    paused ? "paused" : "active",
                    (info["futureActionTimes"] as? [String])?.first ?? "-",
                    "\(info["actionCount"] ?? 0)",
                ])
            }
            printTable(rows)
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a schedule: its spec, policies, counters, recent runs and next 10 times."
        )
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The schedule's id.") var id: String

        func run() async throws {
            printJSON(try await admin.client.send(.GET, "/schedules/\(id)"))
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Create a schedule, e.g. nightly service://Reports/nightly --cron '0 2 * * *' --time-zone Europe/Berlin."
        )
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The schedule's id (letters, digits, '-', '_', '.').") var id: String
        @Argument(help: "service://{service}/{handler}") var sink: String
        @Option(help: "A cron expression (5 fields, 6 with seconds first, or @hourly…); repeatable.") var cron:
            [String] = []
        @Option(help: "A fixed interval such as 15m; repeatable.") var every: [String] = []
        @Option(name: .customLong("time-zone"), help: "The IANA time zone of the cron expressions (UTC by default).")
        var timeZone: String?
        @Option(help: "The key, for an object sink.") var key: String?
        @Option(help: "The handler's input, JSON.") var input: String?
        @Option(help: "skip (default), bufferOne, bufferAll, cancelOther, terminateOther or allowAll.") var overlap:
            String?
        @Option(name: .customLong("catchup-window"), help: "How late a missed tick may still run (default 1 year).")
        var catchupWindow: String?
        @Flag(help: "Create it paused.") var paused = false

        func run() async throws {
            var spec: [String: Any] = ["cron": cron]
            if !every.isEmpty { spec["interval"] = every.map { ["every": $0] } }
            if let timeZone { spec["timeZone"] = timeZone }
            var action: [String: Any] = ["sink": sink]
            if let key { action["key"] = key }
            if let input {
                guard
                    let value = try? JSONSerialization.jsonObject(with: Data(input.utf8), options: [.fragmentsAllowed])
                else { throw ValidationError("the input '\(input)' is not JSON") }
                action["input"] = value
            }
            var policies: [String: Any] = [:]
            if let overlap { policies["overlap"] = overlap }
            if let catchupWindow { policies["catchupWindow"] = catchupWindow }
            let body: [String: Any] = [
                "id": id, "spec": spec, "action": action, "policies": policies, "state": ["paused": paused],
            ]
            printJSON(try await admin.client.send(.POST, "/schedules", body: body))
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a schedule's ticks; running runs go on.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The schedule's id.") var id: String

        func run() async throws {
            printJSON(try await admin.client.send(.PATCH, "/schedules/\(id)/pause"))
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a paused schedule's ticks again (the ticks missed while paused do not run)."
        )
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The schedule's id.") var id: String

        func run() async throws {
            printJSON(try await admin.client.send(.PATCH, "/schedules/\(id)/resume"))
        }
    }

    struct Trigger: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a schedule's action now, through its overlap policy (also while paused)."
        )
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The schedule's id.") var id: String

        func run() async throws {
            printJSON(try await admin.client.send(.PATCH, "/schedules/\(id)/trigger"))
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a schedule; running runs go on.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The schedule's id.") var id: String

        func run() async throws {
            _ = try await admin.client.send(.DELETE, "/schedules/\(id)")
            print("deleted \(id)")
        }
    }
}

/// Prints rows as left-aligned columns.
func printTable(_ rows: [[String]]) {
    let widths = rows.reduce(into: [Int]()) { widths, row in
        for (index, cell) in row.enumerated() {
            if index >= widths.count { widths.append(0) }
            widths[index] = max(widths[index], cell.count)
        }
    }
    for row in rows {
        let cells = row.enumerated().map { index, cell in
            index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
        }
        print(cells.joined(separator: "  "))
    }
}
