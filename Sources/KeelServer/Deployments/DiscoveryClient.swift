import AsyncHTTPClient
import Foundation
import KeelProtocol
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Asks a deployment which services it serves (`GET {uri}/discover`) and checks the answer.
struct DiscoveryClient: Sendable {
    let client: HTTPClient
    /// Registration fails within this time when the endpoint does not answer in full: connecting, the
    /// response head and the whole manifest body all count against it.
    var timeout: Duration = .seconds(10)
    /// Signs the request (Restate's request identity), when configured.
    var identity: RequestIdentity.Signer?

    /// Manifest versions Keel reads, newest last.
    static let manifestVersions = 1...4

    /// The largest manifest Keel reads.
    static let manifestLimit = 16 * 1024 * 1024

    struct Discovered: Sendable {
        var manifest: EndpointManifest
        var manifestVersion: Int
        var protocolVersion: ServiceProtocolVersion
    }

    /// The raw answer of `/discover`.
    private struct Answer: Sendable {
        var status: UInt
        var contentType: String
        var body: ByteBuffer
    }

    func discover(
        uri: DeploymentURI,
        additionalHeaders: [String: String],
        useHTTP11: Bool
    ) async throws(DiscoveryError) -> Discovered {
        let accept = Self.manifestVersions.map { EndpointManifest.contentType(version: $0) }.joined(separator: ", ")
        let answer: Answer
        let base = uri.normalized
        let started = ContinuousClock.now
        do {
            if useHTTP11 {
                var request = HTTPClientRequest(url: base + "/discover")
                request.method = .GET
                request.headers.add(name: "accept", value: accept)
                for (name, value) in additionalHeaders { request.headers.add(name: name, value: value) }
                for (name, value) in identity?.headers(path: "/discover", subject: nil) ?? [] {
                    request.headers.replaceOrAdd(name: name, value: value)
                }
                let client = self.client
                let prepared = request
                answer = try await withDeadline(timeout) {
                    let response = try await client.execute(prepared, timeout: .seconds(3600))
                    let body = try await response.body.collect(upTo: Self.manifestLimit)
                    return Answer(
                        status: response.status.code,
                        contentType: response.headers.first(name: "content-type") ?? "",
                        body: body
                    )
                }
            } else {
                let connection = HTTP2Connection(host: uri.host, port: uri.port)
                var headers = HTTPHeaders([("host", connection.authority), ("accept", accept)])
                for (name, value) in additionalHeaders { headers.add(name: name, value: value) }
                for (name, value) in identity?.headers(path: "/discover", subject: nil) ?? [] {
                    headers.replaceOrAdd(name: name, value: value)
                }
                let head = HTTPRequestHead(version: .http2, method: .GET, uri: uri.path + "/discover", headers: headers)
                defer { Task { await connection.close() } }
                answer = try await withDeadline(timeout, onExpiry: { await connection.close() }) {
                    let (response, bytes) = try await connection.exchange(head, body: nil, limit: Self.manifestLimit)
                    return Answer(
                        status: response.status.code,
                        contentType: response.headers.first(name: "content-type") ?? "",
                        body: bytes
                    )
                }
            }
        } catch let error as DeadlineExceeded {
            throw DiscoveryError(
                "\(base)/discover did not answer in full within \(timeout) (the discovery deadline, --discovery-timeout): \(error)"
            )
        } catch let error where ContinuousClock.now - started >= timeout {
            // The deadline closed the connection, and the exchange's own error ("the stream closed") came first.
            throw DiscoveryError(
                "\(base)/discover did not answer in full within \(timeout) (the discovery deadline, --discovery-timeout): \(error)"
            )
        } catch is CancellationError {
            throw DiscoveryError(
                "the discovery of \(base) was cancelled (the registration request went away, or the server is shutting down)"
            )
        } catch {
            throw DiscoveryError(
                "cannot reach \(base)/discover\(useHTTP11 ? "" : " over HTTP/2 (h2c); set \"use_http_11\": true for HTTP/1.1-only endpoints"): \(error)"
            )
        }
        let status = answer.status
        let contentType = answer.contentType
        let body = answer.body
        let uri = base
        guard status == 200 else {
            let hint = status == 404 ? " (check the path: Keel calls {uri}/discover)" : ""
            throw DiscoveryError("\(uri)/discover answered HTTP \(status)\(hint): \(String(buffer: body).prefix(300))")
        }
        guard let version = EndpointManifest.version(contentType: contentType), Self.manifestVersions.contains(version)
        else {
            throw DiscoveryError(
                "\(uri)/discover answered with content-type '\(contentType)'; Keel reads \(EndpointManifest.contentType(version: 1)) to v\(Self.manifestVersions.upperBound)"
            )
        }
        let manifest: EndpointManifest
        do {
            manifest = try JSONDecoder().decode(EndpointManifest.self, from: Data(buffer: body))
        } catch {
            throw DiscoveryError("the manifest of \(uri) is not valid: \(Self.describe(error))")
        }
        return Discovered(
            manifest: manifest,
            manifestVersion: version,
            protocolVersion: try Self.validate(manifest, uri: uri)
        )
    }

    /// Checks what the engine relies on and picks the protocol version.
    static func validate(_ manifest: EndpointManifest, uri: String) throws(DiscoveryError) -> ServiceProtocolVersion {
        guard manifest.protocolMode != nil else {
            throw DiscoveryError(
                "the manifest of \(uri) has no protocolMode (expected BIDI_STREAM or REQUEST_RESPONSE)"
            )
        }
        guard manifest.minProtocolVersion <= manifest.maxProtocolVersion else {
            throw DiscoveryError(
                "the manifest of \(uri) has minProtocolVersion \(manifest.minProtocolVersion) above maxProtocolVersion \(manifest.maxProtocolVersion)"
            )
        }
        guard
            let version = ServiceProtocolVersion.negotiate(
                endpointMin: manifest.minProtocolVersion,
                endpointMax: manifest.maxProtocolVersion
            )
        else {
            throw DiscoveryError(
                "\(uri) speaks service protocol versions \(manifest.minProtocolVersion)–\(manifest.maxProtocolVersion); Keel supports \(ServiceProtocolVersion.minSupported.rawValue)–\(ServiceProtocolVersion.maxSupported.rawValue)"
            )
        }
        var seen = Set<String>()
        for service in manifest.services {
            guard isValidName(service.name) else {
                throw DiscoveryError(
                    "services[\(service.name)].name is not a valid service name (letters, digits, '.', '_', '-'; starting with a letter)"
                )
            }
            if let clash = ReservedNames.clash(serviceName: service.name) {
                throw DiscoveryError("services[\(service.name)]: \(clash)")
            }
            guard seen.insert(service.name).inserted else {
                throw DiscoveryError("services: '\(service.name)' appears twice")
            }
            var handlers = Set<String>()
            for handler in service.handlers {
                guard isValidName(handler.name), handlers.insert(handler.name).inserted else {
                    throw DiscoveryError(
                        "services[\(service.name)].handlers[\(handler.name)]: invalid or duplicate handler name"
                    )
                }
                if handler.ty == .workflow, service.ty != .workflow {
                    throw DiscoveryError(
                        "services[\(service.name)].handlers[\(handler.name)].ty is WORKFLOW but the service is not a workflow"
                    )
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
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.dataCorrupted(let context):
            return
                "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))': \(context.debugDescription)"
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
