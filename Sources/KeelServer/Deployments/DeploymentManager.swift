import AsyncHTTPClient
import Foundation
import KeelEngine
import KeelProtocol
import NIOCore

/// Registers deployments: discovery, validation, the transport to reach them, and the registry entry.
struct DeploymentManager: Sendable {
    let registry: ServiceRegistry
    let client: HTTPClient
    /// How long one attempt may run on a remote deployment before it is aborted and retried.
    var abortTimeout: TimeAmount = .seconds(600)

    struct Registration: Sendable {
        var deployment: ServiceRegistry.Deployment
        /// False when an identical deployment of the same URI was registered already.
        var created: Bool
    }

    func register(_ body: AdminBody.RegisterDeployment) async throws -> Registration {
        let uri = try Self.normalize(body.uri)
        let headers = body.additional_headers ?? [:]
        let discovered: DiscoveryClient.Discovered
        do {
            discovered = try await DiscoveryClient(client: client).discover(uri: uri, additionalHeaders: headers, useHTTP11: body.use_http_11 ?? false)
        } catch {
            throw EngineError(.badRequest, error.description)
        }
        if let existing = registry.deployments.first(where: { $0.uri == uri }) {
            if existing.manifest == discovered.manifest, existing.additionalHeaders == headers {
                return Registration(deployment: existing, created: false)
            }
            guard body.force == true else {
                throw EngineError(.conflict, "a deployment of \(uri) is registered already (\(existing.id)) with other services or headers; register again with \"force\": true to replace it")
            }
        }
        let useHTTP11 = body.use_http_11 ?? false
        let transport: any AttemptTransport = useHTTP11
            ? HTTP1Transport(client: client, baseURI: uri, additionalHeaders: headers, abortTimeout: abortTimeout)
            : try HTTP2Transport(baseURI: uri, additionalHeaders: headers, requestResponse: discovered.manifest.protocolMode != .bidiStream)
        let deployment = ServiceRegistry.Deployment(
            id: DeploymentID.generate(),
            uri: uri,
            manifest: discovered.manifest,
            protocolVersion: discovered.protocolVersion.rawValue,
            additionalHeaders: headers,
            useHTTP11: useHTTP11,
            transport: transport
        )
        if body.dry_run == true { return Registration(deployment: deployment, created: true) }
        try registry.register(deployment, force: body.force ?? false)
        for old in registry.deployments where old.uri == uri && old.id != deployment.id {
            try? registry.remove(old.id)
        }
        return Registration(deployment: deployment, created: true)
    }

    /// `http://host:port/path` without a trailing slash; anything else is refused with the reason.
    static func normalize(_ uri: String) throws(EngineError) -> String {
        guard let url = URL(string: uri), let scheme = url.scheme?.lowercased(), url.host != nil else {
            throw EngineError(.badRequest, "'\(uri)' is not an absolute URI such as http://localhost:9080")
        }
        guard scheme == "http" else {
            throw EngineError(.badRequest, "'\(uri)': Keel reaches deployments over http:// (https is not supported yet)")
        }
        var text = uri
        while text.hasSuffix("/") { text.removeLast() }
        return text
    }
}
