import Foundation
import KeelEngine

/// Everything `keel serve` can be told. `init()` gives the defaults: embedded SQLite in `./.keel`, ingress
/// on 127.0.0.1:8080, admin on 127.0.0.1:9070.
public struct ServerConfiguration: Sendable {
    public struct Bind: Hashable, Sendable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        /// Parses `host:port`, `:port` or `port`.
        public init?(_ text: String) {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard let portText = parts.last, let port = Int(portText), (0...65535).contains(port) else { return nil }
            let host = parts.dropLast().joined(separator: ":")
            self.init(host: host.isEmpty ? "127.0.0.1" : host, port: port)
        }

        public var description: String { "\(host):\(port)" }
    }

    public var dataDirectory: String
    public var ingress: Bind
    public var admin: Bind
    /// The largest request body the ingress accepts (bytes).
    public var maxBodySize: Int
    /// How long discovery of a deployment may take, the manifest's body included.
    public var discoveryTimeout: Duration
    public var engine: EngineConfiguration

    public init(
        dataDirectory: String = ".keel",
        ingress: Bind = Bind(host: "127.0.0.1", port: 8080),
        admin: Bind = Bind(host: "127.0.0.1", port: 9070),
        maxBodySize: Int = 10 * 1024 * 1024,
        discoveryTimeout: Duration = .seconds(10),
        engine: EngineConfiguration = EngineConfiguration()
    ) {
        self.dataDirectory = dataDirectory
        self.ingress = ingress
        self.admin = admin
        self.maxBodySize = maxBodySize
        self.discoveryTimeout = discoveryTimeout
        self.engine = engine
    }
}
