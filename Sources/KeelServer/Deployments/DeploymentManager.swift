import AsyncHTTPClient
import Foundation
import KeelEngine
import KeelProtocol
import KeelStore
import NIOCore

/// Registers deployments: discovery, validation, the transport to reach them, and the registry entry.
struct DeploymentManager: Sendable {
    let registry: ServiceRegistry
    let store: any Store
    let client: HTTPClient
    /// How long one attempt may run on a remote deployment before it is aborted and retried.
    var abortTimeout: TimeAmount = .seconds(600)
    /// How long discovery may take, the manifest's body included.
    var discoveryTimeout: Duration = .seconds(10)
    /// Signs every request to a deployment (discovery and attempts), when configured.
    var identity: RequestIdentity.Signer?

    struct Registration: Sendable {
        var deployment: ServiceRegistry.Deployment
        /// False when an identical deployment of the same URI was registered already.
        var created: Bool
    }

    func register(_ body: AdminBody.RegisterDeployment) async throws -> Registration {
        let parsed = try DeploymentURI.parse(body.uri)
        let uri = parsed.normalized
        let headers = body.additional_headers ?? [:]
        let discovered: DiscoveryClient.Discovered
        do {
            discovered = try await DiscoveryClient(client: client, timeout: discoveryTimeout, identity: identity)
                .discover(uri: parsed, additionalHeaders: headers, useHTTP11: body.use_http_11 ?? false)
        } catch {
            throw EngineError(.badRequest, error.description)
        }
        if let existing = registry.deployments.first(where: { $0.uri == uri }) {
            if existing.manifest == discovered.manifest, existing.additionalHeaders == headers {
                return Registration(deployment: existing, created: false)
            }
            guard body.force == true else {
                throw EngineError(
                    .conflict,
                    "a deployment of \(uri) is registered already (\(existing.id)) with other services or headers; register again with \"force\": true to replace it"
                )
            }
        }
        let useHTTP11 = body.use_http_11 ?? false
        let deployment = ServiceRegistry.Deployment(
            id: DeploymentID.generate(),
            uri: uri,
            manifest: discovered.manifest,
            protocolVersion: discovered.protocolVersion.rawValue,
            additionalHeaders: headers,
            useHTTP11: useHTTP11,
            transport: transport(uri: parsed, headers: headers, useHTTP11: useHTTP11, manifest: discovered.manifest)
        )
        if body.dry_run == true { return Registration(deployment: deployment, created: true) }
        try await store.saveDeployment(Self.record(deployment))
        try registry.register(deployment, force: body.force ?? false)
        for old in registry.deployments where old.uri == uri && old.id != deployment.id {
            try await remove(old.id)
        }
        return Registration(deployment: deployment, created: true)
    }

    /// Retires a deployment: no new invocations reach it; the pinned ones finish there, also after a restart.
    func remove(_ id: String) async throws {
        guard let deployment = registry.deployment(id), deployment.uri != nil else {
            throw EngineError(
                registry.deployment(id) == nil ? .notFound : .badRequest,
                registry.deployment(id) == nil
                    ? "deployment '\(id)' not found"
                    : "deployment '\(id)' is embedded in this process and cannot be removed"
            )
        }
        var record = Self.record(deployment)
        record.retiredAt = Int64(Date().timeIntervalSince1970 * 1000)
        try await store.saveDeployment(record)
        try registry.remove(id)
    }

    /// Registers the stored deployments again at start, before invocations are recovered.
    func restore() async throws {
        for record in try await store.deployments() {
            let restored = try deployment(record)
            if record.retiredAt == nil {
                try registry.register(restored, force: true)
            } else {
                registry.restoreRetired(restored)
            }
        }
    }

    /// On a cluster: registers the deployments other nodes stored since, and retires the ones they retired
    /// (one registered and retired between two rounds is kept as retired, for the invocations pinned to it).
    /// A record that cannot be used is skipped and named in the returned problems; the others are applied.
    func sync() async throws -> [String] {
        var problems: [String] = []
        for record in try await store.deployments() {
            let active = registry.deployment(record.id) != nil
            do {
                if record.retiredAt == nil, !active {
                    try registry.register(try deployment(record), force: true)
                } else if record.retiredAt != nil, active {
                    try registry.remove(record.id)
                } else if record.retiredAt != nil, !registry.knows(record.id) {
                    registry.restoreRetired(try deployment(record))
                }
            } catch {
                problems.append("deployment \(record.id): \(error)")
            }
        }
        return problems
    }

    private func deployment(_ record: DeploymentRecord) throws -> ServiceRegistry.Deployment {
        let manifest = try JSONDecoder().decode(EndpointManifest.self, from: record.manifest)
        return ServiceRegistry.Deployment(
            id: record.id,
            uri: record.uri,
            manifest: manifest,
            protocolVersion: record.protocolVersion,
            additionalHeaders: record.additionalHeaders,
            useHTTP11: record.useHTTP11,
            createdAt: Date(timeIntervalSince1970: Double(record.createdAt) / 1000),
            transport: storedTransport(
                uri: record.uri,
                headers: record.additionalHeaders,
                useHTTP11: record.useHTTP11,
                manifest: manifest
            )
        )
    }

    private func transport(
        uri: DeploymentURI,
        headers: [String: String],
        useHTTP11: Bool,
        manifest: EndpointManifest
    ) -> any AttemptTransport {
        if useHTTP11 {
            return HTTP1Transport(
                client: client,
                baseURI: uri.normalized,
                additionalHeaders: headers,
                abortTimeout: abortTimeout,
                identity: identity
            )
        }
        var transport = HTTP2Transport(
            uri: uri,
            additionalHeaders: headers,
            requestResponse: manifest.protocolMode != .bidiStream
        )
        transport.identity = identity
        return transport
    }

    /// The transport of a stored deployment. One stored before URIs were checked (a port above 65535, say)
    /// still starts: its attempts fail with the reason, so its invocations can be seen, killed or resumed
    /// on another deployment, instead of the server refusing to start.
    private func storedTransport(
        uri: String,
        headers: [String: String],
        useHTTP11: Bool,
        manifest: EndpointManifest
    ) -> any AttemptTransport {
        do {
            return transport(
                uri: try DeploymentURI.parse(uri),
                headers: headers,
                useHTTP11: useHTTP11,
                manifest: manifest
            )
        } catch {
            return UnreachableTransport(reason: error.message)
        }
    }

    private static func record(_ deployment: ServiceRegistry.Deployment) -> DeploymentRecord {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return DeploymentRecord(
            id: deployment.id,
            uri: deployment.uri ?? "",
            additionalHeaders: deployment.additionalHeaders,
            useHTTP11: deployment.useHTTP11,
            protocolVersion: deployment.protocolVersion,
            manifest: (try? encoder.encode(deployment.manifest)) ?? Data(),
            createdAt: Int64(deployment.createdAt.timeIntervalSince1970 * 1000)
        )
    }
}

/// The transport of a deployment whose stored URI cannot be used: every attempt fails with the reason.
struct UnreachableTransport: AttemptTransport {
    let reason: String

    func handle(_ head: AttemptHead, input: AttemptInput, output: AttemptOutput) async {
        output.yield(HTTP1Transport.failure(code: 503, "the deployment's URI cannot be used: \(reason)"))
    }
}
