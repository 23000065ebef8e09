import ArgumentParser
import Foundation
import KeelCore
import KeelStore

/// The filters `keel invocations list` and the bulk operations share, turned into a `WHERE` over
/// `sys_invocation` (values quoted as SQL literals; the server runs it read-only anyway).
struct InvocationFilter: ParsableArguments {
    static let statuses = [
        "pending", "scheduled", "ready", "running", "backing-off", "suspended", "paused", "completed",
    ]

    @Option(help: "Only these services (comma-separated).") var service: String?
    @Option(help: "Only this handler.") var handler: String?
    @Option(help: "Only this object or workflow key.") var key: String?
    @Option(
        help:
            "Only these statuses (comma-separated): pending, scheduled, ready, running, backing-off, suspended, paused, completed."
    )
    var status: String?
    @Option(help: "Only those created within this long (30m, 2h, 7d) or since this time (2026-12-01T00:00:00Z).")
    var since: String?
    @Flag(help: "Include completed invocations (listed only with --all or --status completed).") var all = false

    func conditions(now: Date = Date()) throws -> [String] {
        var conditions: [String] = []
        if let service {
            let names = service.split(separator: ",").map { sqlLiteral($0.trimmingCharacters(in: .whitespaces)) }
            conditions.append("target_service_name IN (\(names.joined(separator: ", ")))")
        }
        if let handler { conditions.append("target_handler_name = \(sqlLiteral(handler))") }
        if let key { conditions.append("target_service_key = \(sqlLiteral(key))") }
        if let status {
            let wanted = status.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            for value in wanted where !Self.statuses.contains(value) {
                throw ValidationError(
                    "--status: '\(value)' is not a status; use \(Self.statuses.joined(separator: ", "))"
                )
            }
            conditions.append("status IN (\(wanted.map(sqlLiteral).joined(separator: ", ")))")
        }
        if let since {
            conditions.append("created_at >= \(sqlLiteral(try Self.instant(since, now: now)))")
        }
        return conditions
    }

    /// ` WHERE …` (or nothing); completed invocations are left out unless asked for.
    func whereClause(includeCompletedByDefault: Bool, extra: [String] = []) throws -> String {
        var conditions = try conditions() + extra
        if !includeCompletedByDefault, !all, status == nil { conditions.append("status <> 'completed'") }
        return conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
    }

    var isEmpty: Bool { service == nil && handler == nil && key == nil && status == nil && since == nil && !all }

    /// `--since` as the RFC 3339 text `sys_invocation.created_at` holds (text order is time order).
    static func instant(_ text: String, now: Date) throws -> String {
        if let duration = DurationParser.parse(text) {
            let milliseconds = Int64(now.timeIntervalSince1970 * 1000)
            let (seconds, attoseconds) = duration.components
            let back = seconds.multipliedReportingOverflow(by: 1000)
            guard !back.overflow else { throw ValidationError("--since: \(text) is too long ago") }
            return IntrospectionViews.rfc3339(
                milliseconds &- (back.partialValue &+ attoseconds / 1_000_000_000_000_000)
            )
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        guard let date = formatter.date(from: text) ?? plain.date(from: text) else {
            throw ValidationError(
                "--since: '\(text)' is neither a duration (30m, 2h, 7d) nor a time (2026-12-01T00:00:00Z)"
            )
        }
        return IntrospectionViews.rfc3339(Int64(date.timeIntervalSince1970 * 1000))
    }
}

/// What a bulk operation acts on: one invocation id, or every invocation a target prefix and the filters select.
struct BulkSelection: ParsableArguments {
    @Argument(
        help: "An invocation id (inv_1…), or a target: Service, Service/handler, Object/key or Object/key/handler."
    )
    var query: String?
    @OptionGroup var filter: InvocationFilter
    @Option(help: "Act on at most this many invocations.") var limit = 1000
    @Flag(name: [.customShort("y"), .long], help: "Do not ask for confirmation.") var yes = false

    /// Runs `operation` (`PATCH /invocations/{id}/{operation}`) on the selection. One id acts at once; a
    /// selection lists what it matched and asks first (unless `--yes`). `eligible` limits the statuses.
    func run(
        _ operation: String,
        verb: String,
        eligible: [String],
        admin: AdminOptions,
        suffix: String = ""
    ) async throws {
        if let query, query.hasPrefix("inv_"), filter.isEmpty {
            _ = try await admin.client.send(.PATCH, "/invocations/\(query)/\(operation)\(suffix)")
            print("\(verb) \(query)")
            return
        }
        guard query != nil || !filter.isEmpty else {
            throw ValidationError("name an invocation id or a target, or filter with --service, --status, …")
        }
        var extra = ["status IN (\(eligible.map(sqlLiteral).joined(separator: ", ")))"]
        if let query {
            extra.append(
                query.hasPrefix("inv_")
                    ? "id = \(sqlLiteral(query))"
                    : "(target = \(sqlLiteral(query)) OR target LIKE \(sqlLiteral(query.replacingOccurrences(of: "%", with: "") + "/%")))"
            )
        }
        let sql =
            "SELECT id, target, status FROM sys_invocation\(try filter.whereClause(includeCompletedByDefault: true, extra: extra)) ORDER BY created_at LIMIT \(max(1, limit))"
        let matched = try await admin.client.query(sql).rows
        guard !matched.isEmpty else {
            print("no invocation matches (eligible: \(eligible.joined(separator: ", ")))")
            return
        }
        print(
            TextTable(
                columns: ["id", "target", "status"],
                rows: matched.prefix(20).map { [cellText($0["id"]), cellText($0["target"]), cellText($0["status"])] }
            ).render(),
            terminator: ""
        )
        if matched.count > 20 { print("… and \(matched.count - 20) more") }
        if !yes {
            guard isatty(STDIN_FILENO) == 1 else {
                throw ValidationError(
                    "\(matched.count) invocations match; pass --yes to \(operation) them without a terminal"
                )
            }
            print("\(operation) these \(matched.count) invocations? [y/N] ", terminator: "")
            guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
                print("nothing done")
                return
            }
        }
        var failures = 0
        for row in matched {
            let id = cellText(row["id"])
            do {
                _ = try await admin.client.send(.PATCH, "/invocations/\(id)/\(operation)\(suffix)")
            } catch {
                failures += 1
                FileHandle.standardError.write(Data("\(id): \(error)\n".utf8))
            }
        }
        print("\(verb) \(matched.count - failures) of \(matched.count) invocations")
        if failures > 0 { throw ExitCode(1) }
    }
}
