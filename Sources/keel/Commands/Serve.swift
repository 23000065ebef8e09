import ArgumentParser
import Foundation
import Keel
import KeelCore
import KeelEngine
import KeelServer
import Logging

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Keel server: embedded SQLite store, HTTP ingress and admin API."
    )

    @Flag(help: "Bind the example services in-process (Greeter, Counter, Cart, Bench, Recorder, and the toolkit examples Reminder, Waiter, Trip, Parent, Child, Approval, Scheduler).")
    var demo = false

    @Option(name: .customLong("data-dir"), help: "Directory of the embedded SQLite store (env KEEL_DATA_DIR).")
    var dataDirectory = ProcessInfo.processInfo.environment["KEEL_DATA_DIR"] ?? ".keel"

    @Option(name: .customLong("ingress-bind"), help: "host:port of the HTTP ingress (env KEEL_INGRESS_BIND).")
    var ingressBind = ProcessInfo.processInfo.environment["KEEL_INGRESS_BIND"] ?? "127.0.0.1:8080"

    @Option(name: .customLong("admin-bind"), help: "host:port of the admin API (env KEEL_ADMIN_BIND).")
    var adminBind = ProcessInfo.processInfo.environment["KEEL_ADMIN_BIND"] ?? "127.0.0.1:9070"

    @Option(name: .customLong("max-body-size"), help: "Largest request body the ingress accepts, in bytes.")
    var maxBodySize = 10 * 1024 * 1024

    @Option(help: "Partition processors.")
    var partitions = 4

    @Option(
        name: .customLong("inactivity-timeout"),
        help: "Close an attempt's stream after this long without frames so the handler suspends (e.g. 60s, PT1M)."
    )
    var inactivityTimeout = "60s"

    @Option(
        name: .customLong("abort-timeout"),
        help: "Abort and retry an attempt that has not ended this long after the inactivity timeout closed its stream (e.g. 60s)."
    )
    var abortTimeout = "60s"

    @Option(
        name: .customLong("discovery-timeout"),
        help: "How long registering a deployment may wait for its /discover answer, body included (e.g. 10s)."
    )
    var discoveryTimeout = "10s"

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard ServerConfiguration.Bind(ingressBind) != nil else {
            throw ValidationError("--ingress-bind '\(ingressBind)' is not host:port")
        }
        guard ServerConfiguration.Bind(adminBind) != nil else {
            throw ValidationError("--admin-bind '\(adminBind)' is not host:port")
        }
        guard maxBodySize > 0 else { throw ValidationError("--max-body-size must be positive") }
        guard partitions > 0 else { throw ValidationError("--partitions must be positive") }
        guard let timeout = DurationParser.parse(inactivityTimeout), timeout > .zero else {
            throw ValidationError("--inactivity-timeout '\(inactivityTimeout)' is not a positive duration: use \(DurationParser.formats)")
        }
        guard let abort = DurationParser.parse(abortTimeout), abort > .zero else {
            throw ValidationError("--abort-timeout '\(abortTimeout)' is not a positive duration: use \(DurationParser.formats)")
        }
        try Self.positiveDuration(discoveryTimeout, flag: "--discovery-timeout")
    }

    func run() async throws {
        logging.bootstrap()
        var configuration = ServerConfiguration(
            dataDirectory: dataDirectory,
            maxBodySize: maxBodySize,
            engine: EngineConfiguration(
                partitions: partitions,
                inactivityTimeout: DurationParser.parse(inactivityTimeout) ?? .seconds(60),
                abortTimeout: DurationParser.parse(abortTimeout) ?? .seconds(60)
            )
        )
        configuration.discoveryTimeout = DurationParser.parse(discoveryTimeout) ?? .seconds(10)
        if let ingress = ServerConfiguration.Bind(ingressBind) { configuration.ingress = ingress }
        if let admin = ServerConfiguration.Bind(adminBind) { configuration.admin = admin }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let endpoints = demo ? [DemoServices.endpoint(dataDirectory: dataDirectory)] : []
        try await KeelApplication(configuration: configuration, endpoints: endpoints).run()
    }

    @discardableResult
    private static func positiveDuration(_ text: String, flag: String) throws -> Duration {
        guard let duration = DurationParser.parse(text), duration > .zero else {
            throw ValidationError("\(flag) '\(text)' is not a positive duration: use \(DurationParser.formats)")
        }
        return duration
    }
}
