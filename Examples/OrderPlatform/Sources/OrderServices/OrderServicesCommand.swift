import ArgumentParser
import Foundation
import Hummingbird
import Logging

/// `order-services <service> --port P --ledger FILE [faults]`: one of the order platform's outside services.
@main
struct OrderServicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order-services",
        abstract: "Runs one of the order platform's outside services (inventory, payments, email, loyalty, orders)."
    )

    @Argument(help: "inventory, payments, email, loyalty or orders")
    var service: String

    @Option(help: "Loopback port to listen on.")
    var port: Int

    @Option(help: "The ledger's SQLite file.")
    var ledger: String

    @Option(name: .customLong("latency-ms"), help: "Delay every request by this many milliseconds.")
    var latencyMs = 0

    @Option(name: .customLong("error-rate"), help: "Share of requests answered 500 before any effect (0-1).")
    var errorRate = 0.0

    @Option(name: .customLong("timeout-rate"), help: "Share of requests that hang after their effect (0-1).")
    var timeoutRate = 0.0

    @Option(name: .customLong("hang-ms"), help: "How long a hanging request hangs (ms).")
    var hangMs = 10_000

    @Option(name: .customLong("down-for"), help: "Answer 503 for this many seconds from the start.")
    var downFor = 0

    func run() async throws {
        guard let kind = SideService(rawValue: service) else {
            throw ValidationError("unknown service '\(service)': inventory, payments, email, loyalty or orders")
        }
        var faults = Faults()
        faults.latencyMs = latencyMs
        faults.errorRate = errorRate
        faults.timeoutRate = timeoutRate
        faults.hangMs = hangMs
        if downFor > 0 { faults.downUntilMs = now() + Int64(downFor) * 1000 }
        let switches = FaultSwitches(try faults.validated())
        let ledger = try Ledger(path: self.ledger, schema: kind.schema)
        var logger = Logger(label: "order-services.\(kind.rawValue)")
        logger.logLevel = .warning
        let app = Application(
            router: kind.router(ledger: ledger, faults: switches),
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: kind.rawValue),
            logger: logger
        )
        try await app.runService()
    }
}
