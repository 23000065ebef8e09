import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import OrderPlatformKit

/// `order-chaos`: the order platform under orders, SIGKILLs, payment timeouts and an email outage, then the
/// ledgers' audit (issue 19). `chaos.sh` builds the binaries and runs this.
@main
struct ChaosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order-chaos",
        abstract: "Runs the order platform under chaos and audits the outside services' ledgers."
    )

    @Option(help: "Orders to place.") var orders = 2000
    @Option(help: "SIGKILLs of the platform during the run.") var kills = 10
    @Option(name: .customLong("email-outage"), help: "Seconds the email service is down (from 30% into the run).")
    var emailOutage = 10
    @Option(help: "Orders per second, from all clients together.") var rate = 40.0
    @Option(help: "Concurrent clients.") var clients = 16
    @Option(name: .customLong("decline-rate"), help: "Share of orders paid with a card that is declined.")
    var declineRate = 0.05
    @Option(name: .customLong("timeout-rate"), help: "Share of charges that time out after charging.")
    var timeoutRate = 0.02
    @Option(name: .customLong("email-max-attempts"), help: "send-confirmation's attempts before it pauses.")
    var emailMaxAttempts = 6
    @Option(name: .customLong("email-max-interval-ms"), help: "send-confirmation's longest backoff (ms).")
    var emailMaxIntervalMs = 4000
    @Option(name: .customLong("bin"), help: "Folder with order-platform, order-services and keel.")
    var binaries: String
    @Option(name: .customLong("work-dir"), help: "Folder for the ledgers, Keel's data and the logs (made anew).")
    var workDirectory: String
    @Option(help: "The HTML report to write.") var report: String?
    @Option(help: "Seed of the orders and the kill times.") var seed: UInt64 = 19
    @Option(name: .customLong("analytics-dir"), help: "The seed's Tinybird files.")
    var analyticsDirectory = "Examples/Analytics"

    func validate() throws {
        guard orders >= 1, orders <= 1_000_000, kills >= 0, kills <= 1000, emailOutage >= 0, emailOutage <= 86_400,
            rate > 0, rate <= 10_000, clients >= 1, clients <= 512, (0...1).contains(declineRate),
            (0...1).contains(timeoutRate)
        else {
            throw ValidationError("an option is out of range (see --help)")
        }
    }

    func run() async throws {
        let run = try ChaosRun(options: self)
        let outcome = try await run.execute()
        print(outcome.table)
        if let report {
            try outcome.html.write(toFile: report, atomically: true, encoding: .utf8)
            print("report: \(report)")
        }
        print(outcome.summary)
        if !outcome.violations.isEmpty { throw ExitCode(1) }
    }
}
