import AsyncHTTPClient
import Foundation
import KeelProtocol
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Asks a deployment which services it serves (`GET {uri}/discover`) and checks the answer.
struct DiscoveryClient: Sendable {
    let client: HTTPClient
    /// Registration fails within this time when the endpoint does not answer.
    var timeout: TimeAmount = .seconds(10)

    /// Manifest versions Keel reads, newest last.
    static let manifestVersions = 1...4

    struct Discovered: Sendable {
        var manifest: EndpointManifest
        var manifestVersion: Int
        var protocolVersion: ServiceProtocolVersion
    }

    func discover(uri: String, additionalHeaders: [String: String], useHTTP11: Bool) async throws(DiscoveryError) -> Discovered {
        let accept = Self.manifestVersions.map { EndpointManifest.contentType(version: $0) }.joined(separator: ", ")
        let status: UInt
        let contentType: String
        let body: ByteBuffer
        do {
            if useHTTP11 {
                var request = HTTPClientRequest(url: uri + "/discover")
                request.method = .GET
                request.headers.add(name: "accept", value: accept)
                for (name, value) in additionalHeaders { request.headers.add(name: name, value: value) }
                let response = try await client.execute(request, timeout: timeout)
                status = response.status.code
                contentType = response.headers.first(name: "content-type") ?? ""
                body = try await response.body.collect(upTo: 16 * 1024 * 1024)
            } else {
                guard let url = URL(string: uri), let host = url.host else { throw DiscoveryError("'\(uri)' has no host") }
                let connection = HTTP2Connection(host: host, port: url.port ?? 80)
                var headers = HTTPHeaders([("host", connection.authority), ("accept", accept)])
                for (name, value) in additionalHeaders { headers.add(name: name, value: value) }
                let path = (url.path.hasSuffix("/") ? String(url.path.dropLast()) : url.path) + "/discover"
                let exchange = Task { try await connection.exchange(HTTPRequestHead(version: .http2, method: .GET, uri: path, headers: headers), body: nil, limit: 16 * 1024 * 1024) }
                let timer = Task {
                    try await Task.sleep(for: .seconds(10))
                    exchange.cancel()
                    await connection.close()
                }
                defer { timer.cancel() }
                let (head, bytes) = try await exchange.value
                await connection.close()
                status = head.status.code
                contentType = head.headers.first(name: "content-type") ?? ""
                body = bytes
            }
        } catch let error as DiscoveryError {
            throw error
        } catch {
            throw DiscoveryError("cannot reach \(uri)/discover\(useHTTP11 ? "" : " over HTTP/2 (h2c); set \"use_http_11\": true for HTTP/1.1-only endpoints"): \(error)")
        }
        guard status == 200 else {
            let hint = status == 404 ? " (check the path: Keel calls {uri}/discover)" : ""
            throw DiscoveryError("\(uri)/discover answered HTTP \(status)\(hint): \(String(buffer: body).prefix(300))")
        }
        guard let version = EndpointManifest.version(contentType: contentType), Self.manifestVersions.contains(version) else {
            throw DiscoveryError("\(uri)/discover answered with content-type '\(contentType)'; Keel reads \(EndpointManifest.contentType(version: 1)) to v\(Self.manifestVersions.upperBound)")
        }
        let manifest: EndpointManifest
        do {
            manifest = try JSONDecoder().decode(EndpointManifest.self, from: Data(buffer: body))
        } catch {
            throw DiscoveryError("the manifest of \(uri) is not valid: \(Self.describe(error))")
        }
        return Discovered(manifest: manifest, manifestVersion: version, protocolVersion: try Self.validate(manifest, uri: uri))
    }

    /// Checks what the engine relies on and picks the protocol version.
    static func validate(_ manifest: EndpointManifest, uri: String) throws(DiscoveryError) -> ServiceProtocolVersion {
        guard manifest.protocolMode != nil else {
            throw DiscoveryError("the manifest of \(uri) has no protocolMode (expected BIDI_STREAM or REQUEST_RESPONSE)")
        }
        guard manifest.minProtocolVersion <= manifest.maxProtocolVersion else {
            throw DiscoveryError("the manifest of \(uri) has minProtocolVersion \(manifest.minProtocolVersion) above maxProtocolVersion \(manifest.maxProtocolVersion)")
        }
        guard let version = ServiceProtocolVersion.negotiate(endpointMin: manifest.minProtocolVersion, endpointMax: manifest.maxProtocolVersion) else {
            throw DiscoveryError("\(uri) speaks service protocol versions \(manifest.minProtocolVersion)–\(manifest.maxProtocolVersion); Keel supports \(ServiceProtocolVersion.minSupported.rawValue)–\(ServiceProtocolVersion.maxSupported.rawValue)")
        }
        var seen = Set<String>()
        for service in manifest.services {
            guard isValidName(service.name) else {
                throw DiscoveryError("services[\(service.name)].name is not a valid service name (letters, digits, '.', '_', '-'; starting with a letter)")
            }
            guard seen.insert(service.name).inserted else {
                throw DiscoveryError("services: '\(service.name)' appears twice")
            }
            var handlers = Set<String>()
            for handler in service.handlers {
                guard isValidName(handler.name), handlers.insert(handler.name).inserted else {
                    throw DiscoveryError("services[\(service.name)].handlers[\(handler.name)]: invalid or duplicate handler name")
                }
                if handler.ty == .workflow, service.ty != .workflow {
                    throw DiscoveryError("services[\(service.name)].handlers[\(handler.name)].ty is WORKFLOW but the service is not a workflow")
                }
            }
        }
        return version
    }

    private static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first else { return false }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "._-"))
        let startsWell = CharacterSet.letters.contains(first) || (first == "_" && name.count > 1)
        return startsWell && name.unicodeScalars.allSatisfy { allowed.contains($0) && $0.isASCII }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing field '\((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context), DecodingError.dataCorrupted(let context):
            return "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))': \(context.debugDescription)"
        default:
            return String(describing: error)
        }
    }
}

/// A deployment could not be registered; the message names the URI and the cause.
struct DiscoveryError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
