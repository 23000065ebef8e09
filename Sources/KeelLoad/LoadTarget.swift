import ArgumentParser
import Foundation

/// The URL under load, checked to be on this machine unless the user allowed otherwise.
struct LoadTarget: Sendable {
    let url: String
    let scheme: String
    let host: String
    let port: Int
    let path: String
    /// The path with the query, as the request line carries it.
    let requestURI: String

    init(_ text: String, allowRemote: Bool) throws {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else {
            throw ValidationError("--url '\(text)' is not an http:// or https:// URL with a host")
        }
        guard allowRemote || Self.isLoopback(host) else {
            throw ValidationError(
                "--url host '\(host)' is not a loopback address (127.0.0.0/8, ::1, localhost); "
                    + "load only servers on this machine, or pass --allow-remote for a host you operate"
            )
        }
        self.url = text
        self.scheme = scheme
        self.host = host
        self.port = components.port ?? (scheme == "https" ? 443 : 80)
        self.path = components.path
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        self.requestURI = components.percentEncodedQuery.map { "\(path)?\($0)" } ?? path
    }

    /// Whether the requests go to `Bench/run`, whose `steps` count durable steps.
    var isBenchRun: Bool {
        path.split(separator: "/").map(String.init) == ["Bench", "run"]
    }

    static func isLoopback(_ host: String) -> Bool {
        let name = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if name == "localhost" || name == "localhost." || name == "::1" || name == "0:0:0:0:0:0:0:1" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ $0.allSatisfy(\.isASCII) && UInt8($0) != nil }) else {
            return false
        }
        return octets[0] == "127"
    }
}
