import Foundation
import KeelStore

/// Where and how `PostgresStore` connects: read from a `postgres://user:password@host:port/database` URL, as
/// `keel serve --store` takes it.
public struct PostgresStoreConfiguration: Sendable, Hashable {
    public enum TLSMode: String, Sendable, Hashable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, plain TCP otherwise (libpq's default).
        case prefer
        /// TLS, with the server's certificate verified; fails when the server does not offer it.
        case require
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// The most connections the pool opens; the group-commit writer uses one at a time, readers the rest.
    public var poolSize: Int
    /// How long opening one connection may take.
    public var connectTimeout: Duration
    /// This node's claim on the cluster's partitions, for a server (`keel serve`); nil writes without leases
    /// (tests of the store, tools).
    public var ownership: Ownership?
    /// How long a store call waits for a pooled connection before it fails (and the request that needed it is
    /// answered 503): while the database is unreachable the pool hands out none.
    public var connectionWaitTimeout: Duration

    public init(
        host: String,
        port: Int = 5432,
        username: String,
        password: String? = nil,
        database: String,
        tls: TLSMode = .prefer,
        poolSize: Int = 16,
        connectTimeout: Duration = .seconds(10),
        connectionWaitTimeout: Duration = .seconds(10)
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.tls = tls
        self.poolSize = poolSize
        self.connectTimeout = connectTimeout
        self.connectionWaitTimeout = connectionWaitTimeout
    }

    /// Reads `postgres://` (or `postgresql://`) `user[:password]@host[:port]/database`, with the query options
    /// `sslmode` (`disable`, `prefer`, `require`; libpq's `allow` reads as `prefer`, `verify-full` as `require`)
    /// and `pool_size` (1…1,000). The user defaults to `postgres`, the port to 5432; the database is required.
    public init(url: String) throws(StoreError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "postgres" || scheme == "postgresql"
        else {
            throw Self.invalid(url, "it is not a postgres://user@host/database URL")
        }
        guard let host = components.host, !host.isEmpty else {
            throw Self.invalid(url, "it names no host")
        }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else {
            throw Self.invalid(url, "it names no database (postgres://user@host/database)")
        }
        var tls = TLSMode.prefer
        var poolSize = 16
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                switch value {
                case "disable": tls = .disable
                case "allow", "prefer": tls = .prefer
                case "require", "verify-ca", "verify-full": tls = .require
                default: throw Self.invalid(url, "sslmode '\(value)' is not disable, prefer or require")
                }
            case "pool_size":
                guard let size = Int(value), (1...1_000).contains(size) else {
                    throw Self.invalid(url, "pool_size '\(value)' is not a number from 1 to 1000")
                }
                poolSize = size
            default:
                throw Self.invalid(url, "the option '\(item.name)' is unknown (sslmode and pool_size are)")
            }
        }
        self.init(
            host: host,
            port: components.port ?? 5432,
            username: components.user.flatMap { $0.removingPercentEncoding } ?? "postgres",
            password: components.password.flatMap { $0.removingPercentEncoding },
            database: database.removingPercentEncoding ?? database,
            tls: tls,
            poolSize: poolSize
        )
    }

    /// A node's claim on the partitions of the cluster on this database.
    public struct Ownership: Sendable, Hashable {
        /// The node's name, unique in the cluster (`--node-name`); a restarted node takes its own leases back at
        /// once, without waiting for them to expire.
        public var node: String
        /// The cluster's partition count; the first node fixes it, later ones must give the same.
        public var partitions: Int
        /// How long a lease lasts without renewal; renewed every quarter of it, and this node stops writing after
        /// four fifths of it without a renewal.
        public var leaseDuration: Duration
        /// host:port where the other nodes reach this one (`--cluster-bind`): a standby forwards the requests it
        /// receives there while this node holds the partitions. Nil: no other node can forward to it.
        public var address: String?
        /// A standby asks for no share of the partitions (`--standby`): it takes those left free (a node that
        /// died or stopped), and the others give it none while they run. Without it, a node that joins a running
        /// cluster gets its share: nodes over theirs give partitions up, one at a time.
        public var standby: Bool

        public init(
            node: String,
            partitions: Int,
            leaseDuration: Duration = .seconds(10),
            address: String? = nil,
            standby: Bool = false
        ) {
            self.node = node
            self.partitions = partitions
            self.leaseDuration = leaseDuration
            self.address = address
            self.standby = standby
        }
    }

    /// The URL without its password, for messages and logs.
    public var redactedURL: String {
        let credentials = password == nil ? username : "\(username):***"
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "postgres://\(credentials)@\(hostPart):\(port)/\(database)"
    }

    private static func invalid(_ url: String, _ reason: String) -> StoreError {
        StoreError(.io, "the store URL \(redacting(url)) is not usable: \(reason)")
    }

    /// `url` with the password of its user part replaced, even when the rest does not parse.
    static func redacting(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://"), let at = url[schemeEnd.upperBound...].lastIndex(of: "@") else {
            return url
        }
        let userInfo = url[schemeEnd.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}
