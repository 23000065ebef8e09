import Hummingbird
import HummingbirdHTTP2
import Logging

extension Endpoint {
    /// The Swift SDK's version, sent as `x-restate-server: keel-swift-sdk/<version>`.
    public static let sdkVersion = "0.1.0"

    /// Serves these services over HTTP for a Keel (or Restate) server to call, until the task is cancelled or
    /// the process receives SIGTERM or SIGINT (then it stops accepting connections and lets attempts in progress end).
    ///
    /// ```swift
    /// try await Endpoint(payments, counter).serve(port: 9080)
    /// // keel deployments register http://localhost:9080
    /// ```
    ///
    /// It answers `GET …/discover`, `GET …/health` and `POST …/invoke/{service}/{handler}` under any path prefix.
    ///
    /// - Parameters:
    ///   - host: The address to listen on; `0.0.0.0` for every interface.
    ///   - port: The port to listen on; 0 picks a free one (see ``httpService(host:port:protocol:logger:onServerRunning:)``).
    ///   - protocol: `.http2` (the default) for deployments registered as they are by default, `.http1` for
    ///     deployments registered with `use_http_11` (`keel deployments register --use-http1.1`).
    ///   - logger: Where the HTTP server logs.
    public func serve(
        host: String = "127.0.0.1",
        port: Int = 9080,
        protocol httpProtocol: HTTPProtocol = .http2,
        logger: Logger = Logger(label: "keel.endpoint")
    ) async throws {
        try await httpService(host: host, port: port, protocol: httpProtocol, logger: logger).runService()
    }

    /// The HTTP server of ``serve(host:port:protocol:logger:)`` as a ServiceLifecycle `Service`, for programs that
    /// run their own `ServiceGroup` (next to a Hummingbird or Vapor application, for example).
    ///
    /// ```swift
    /// let group = ServiceGroup(
    ///     services: [endpoint.httpService(port: 9080), myApplication],
    ///     gracefulShutdownSignals: [.sigterm],
    ///     logger: logger
    /// )
    /// try await group.run()
    /// ```
    ///
    /// - Parameter onServerRunning: Called once the server listens, with the port it listens on.
    public func httpService(
        host: String = "127.0.0.1",
        port: Int = 9080,
        protocol httpProtocol: HTTPProtocol = .http2,
        logger: Logger = Logger(label: "keel.endpoint"),
        onServerRunning: @escaping @Sendable (_ port: Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            responder: EndpointResponder(endpoint: self, httpProtocol: httpProtocol),
            server: httpProtocol == .http2 ? .plaintextHTTP2() : .http1(),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port)),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}
