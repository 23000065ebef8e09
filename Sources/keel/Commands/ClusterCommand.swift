import ArgumentParser
import Foundation

/// `keel cluster …`: the nodes sharing one PostgreSQL and their partitions' leases.
struct Cluster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the cluster on PostgreSQL: nodes, partition leases, epochs, expiry.",
        subcommands: [Status.self],
        defaultSubcommand: Status.self
    )

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "The nodes (role, address, lag) and the partitions' leases: which node holds each, with which epoch, for how long."
        )
        @OptionGroup var admin: AdminOptions

        @Flag(help: "Print the admin API's JSON instead of a table.")
        var json = false

        func run() async throws {
            let answer = try await admin.client.send(.GET, "/cluster")
            guard !json else { return printJSON(answer) }
            let cluster = answer as? [String: Any] ?? [:]
            print("answered by node \(cluster["node"] ?? "?"), \(cluster["partitions"] ?? "?") partitions")
            var nodes = [["NODE", "ROLE", "ADDRESS", "LAG", "PARTITIONS"]]
            for node in cluster["nodes"] as? [[String: Any]] ?? [] {
                nodes.append([
                    node["name"] as? String ?? "?",
                    (node["role"] as? String ?? "?") + (node["standby"] as? Bool == true ? " (--standby)" : ""),
                    node["address"] as? String ?? "-",
                    (node["lag_ms"] as? NSNumber).map { "\($0) ms" } ?? "-",
                    (node["partitions"] as? [NSNumber] ?? []).map(\.stringValue).joined(separator: ","),
                ])
            }
            printTable(nodes)
            print()
            var rows = [["PARTITION", "NODE", "EPOCH", "EXPIRES", "STATE", "OUTBOX"]]
            for lease in cluster["leases"] as? [[String: Any]] ?? [] {
                let live = lease["live"] as? Bool ?? false
                let remaining = (lease["expires_in_ms"] as? NSNumber)?.int64Value
                rows.append([
                    "\(lease["partition"] ?? "?")",
                    lease["node"] as? String ?? "-",
                    "\(lease["epoch"] ?? "?")",
                    lease["expires_at"] as? String ?? "released",
                    live ? "held (\(remaining.map { "\($0) ms left" } ?? "?"))" : "free",
                    Self.outbox(lease),
                ])
            }
            printTable(rows)
        }

        /// "-" when nothing waits, else how many messages and the oldest one's age: the partition's lag.
        static func outbox(_ lease: [String: Any]) -> String {
            let pending = (lease["outbox_pending"] as? NSNumber)?.int64Value ?? 0
            guard pending > 0 else { return "-" }
            let lag = (lease["outbox_lag_ms"] as? NSNumber).map { ", oldest \($0) ms" } ?? ""
            return "\(pending) waiting\(lag)"
        }
    }
}
