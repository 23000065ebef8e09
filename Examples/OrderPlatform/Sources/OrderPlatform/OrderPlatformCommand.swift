import ArgumentParser
import Foundation
import Hummingbird
import Keel
import KeelServer
import Logging

/// `order-platform`: the seed's order platform, with Keel embedded (`KeelApplication`), so a SIGKILL takes down
/// the engine and the handlers together.
@main
struct OrderPlatformCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order-platform",
        abstract: "The seed's order platform on Keel: orders.processOrder and the post-order handlers."
    )

    @Option(name: .customLong("data-dir"), help: "Keel's data directory.")
    var dataDirectory = ".order-platform/keel"

    @Option(name: .customLong("ingress-bind"), help: "host:port of Keel's ingress.")
    var ingressBind = "127.0.0.1:8080"

    @Option(name: .customLong("admin-bind"), help: "host:port of Keel's admin API and console.")
    var adminBind = "127.0.0.1:9070"

    @Option(
        name: .customLong("analytics-dir"),
        help: "The seed's Tinybird files (orders.datasource, revenue_dashboard.pipe)."
    )
    var analyticsDirectory = "Examples/Analytics"

    @Option(name: .customLong("inventory-url"), help: "The inventory service.")
    var inventoryURL = "http://127.0.0.1:7101"

    @Option(name: .customLong("payments-url"), help: "The payments service.")
    var paymentsURL = "http://127.0.0.1:7102"

    @Option(name: .customLong("email-url"), help: "The email service.")
    var emailURL = "http://127.0.0.1:7103"

    @Option(name: .customLong("loyalty-url"), help: "The loyalty service.")
    var loyaltyURL = "http://127.0.0.1:7104"

    @Option(name: .customLong("orders-url"), help: "The orders database service.")
    var ordersURL = "http://127.0.0.1:7105"

    @Option(name: .customLong("dashboard-bind"), help: "host:port of the revenue dashboard page, or off.")
    var dashboardBind = "127.0.0.1:8081"

    @Option(name: .customLong("email-max-attempts"), help: "Attempts of send-confirmation before it pauses.")
    var emailMaxAttempts = 12

    @Option(
        name: .customLong("email-max-interval-ms"),
        help: "The longest wait between send-confirmation attempts (ms)."
    )
    var emailMaxIntervalMs = 30_000

    func run() async throws {
        guard let ingress = ServerConfiguration.Bind(ingressBind), let admin = ServerConfiguration.Bind(adminBind)
        else {
            throw ValidationError("--ingress-bind and --admin-bind are host:port")
        }
        guard (1...64).contains(emailMaxAttempts), (100...3_600_000).contains(emailMaxIntervalMs) else {
            throw ValidationError("--email-max-attempts is 1-64, --email-max-interval-ms 100-3600000")
        }
        let backends = Backends(
            inventory: inventoryURL,
            payments: paymentsURL,
            email: emailURL,
            loyalty: loyaltyURL,
            orders: ordersURL,
            analytics: "http://\(ingress)"
        )
        var policy = PostOrderPolicy()
        policy.emailMaxAttempts = emailMaxAttempts
        policy.emailMaxInterval = .milliseconds(emailMaxIntervalMs)
        policy.emailInitialInterval = min(.seconds(1), policy.emailMaxInterval)
        var configuration = ServerConfiguration(dataDirectory: dataDirectory, ingress: ingress, admin: admin)
        configuration.analytics.directory = analyticsDirectory
        var logger = Logger(label: "order-platform")
        logger.logLevel = .notice
        let keel = KeelApplication(
            configuration: configuration,
            endpoints: [Endpoint(OrderPlatform.orders(backends), OrderPlatform.postOrder(backends, policy: policy))],
            logger: logger
        )
        guard dashboardBind != "off" else { return try await keel.run() }
        guard let dashboard = ServerConfiguration.Bind(dashboardBind) else {
            throw ValidationError("--dashboard-bind is host:port or off")
        }
        let page = Application(
            router: Dashboard.router(ingress: "http://\(ingress)"),
            configuration: .init(address: .hostname(dashboard.host, port: dashboard.port), serverName: "dashboard"),
            logger: logger
        )
        // Keel decides when the process ends (SIGTERM); the page goes with it.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await keel.run() }
            group.addTask { try await page.run() }
            try await group.next()
            group.cancelAll()
        }
    }
}
