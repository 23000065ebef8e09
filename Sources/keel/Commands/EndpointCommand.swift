import ArgumentParser
import Foundation
import Keel
import Logging

/// `keel endpoint --demo`: the demo services as a deployment that a Keel (or Restate) server calls over HTTP.
struct EndpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "endpoint",
        abstract: "Serve the example services over HTTP, for a server to register as a deployment.",
        discussion: """
            Register it with a running server: keel deployments register http://localhost:9080
            (with --http1: keel deployments register --use-http1.1 http://localhost:9080).
            """
    )

    @Flag(help: "Serve the example services (Greeter, Counter, Cart, Bench, Recorder). Required for now.")
    var demo = false

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 9080

    @Flag(
        name: .customLong("http1"),
        help: "Serve HTTP/1.1 (request/response) instead of cleartext HTTP/2 (bidirectional)."
    )
    var http1 = false

    @Option(name: .customLong("data-dir"), help: "Directory of the Recorder's side-effect log.")
    var dataDirectory = ".keel-endpoint"

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard demo else {
            throw ValidationError(
                "pass --demo: `keel endpoint` serves the example services; your own services are served by Endpoint(…).serve() in your program"
            )
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port \(port) is not a port number") }
    }

    func run() async throws {
        logging.bootstrap()
        let logger = Logger(label: "keel.endpoint")
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        let endpoint = DemoServices.endpoint(dataDirectory: dataDirectory)
        let httpProtocol: Endpoint.HTTPProtocol = http1 ? .http1 : .http2
        let service = endpoint.httpService(host: host, port: port, protocol: httpProtocol, logger: logger) { port in
            logger.info(
                "keel endpoint is ready",
                metadata: [
                    "address": "http://\(host):\(port)",
                    "protocol": "\(httpProtocol)",
                    "services": "\(endpoint.services.keys.sorted().joined(separator: ","))",
                ]
            )
        }
        try await service.runService()
    }
}
