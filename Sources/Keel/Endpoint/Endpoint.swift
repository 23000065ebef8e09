import Foundation
import KeelProtocol

/// A set of services served together: in-process next to a Keel engine, or over HTTP for a Keel or Restate
/// server to call.
public struct Endpoint: EmbeddedEndpoint {
    public let services: [String: ServiceDefinition]
    public let manifest: EndpointManifest
    /// Checks Restate's request identity on discovery and invocations when set (``requiringRequestIdentity(_:)``).
    var identity: RequestIdentity.Verifier?

    public init(_ services: any ServiceDefinitionConvertible...) {
        self.init(services)
    }

    public init(_ services: [any ServiceDefinitionConvertible]) {
        var table: [String: ServiceDefinition] = [:]
        for service in services { table[service.definition.name] = service.definition }
        self.services = table
        self.manifest = EndpointManifest(
            protocolMode: .bidiStream,
            minProtocolVersion: ServiceProtocolVersion.minSupported.rawValue,
            maxProtocolVersion: ServiceProtocolVersion.maxSupported.rawValue,
            services: services.map { Self.manifestEntry(for: $0.definition) }
        )
    }

    /// This endpoint, answering 401 to discovery and invocation requests that are not signed by one of `keys`
    /// (`publickeyv1_…`, as `keel serve` logs it; several while a key is rotated). Restate's request identity
    /// scheme v1: Keel and Restate servers sign with `--request-identity-private-key-pem-file`. Health checks stay
    /// open. Throws when a key is malformed.
    ///
    /// ```swift
    /// try await Endpoint(payments).requiringRequestIdentity(["publickeyv1_AfQw…"]).serve(port: 9080)
    /// ```
    public func requiringRequestIdentity(_ keys: [String]) throws(RequestIdentity.Failure) -> Endpoint {
        var endpoint = self
        endpoint.identity = keys.isEmpty ? nil : try RequestIdentity.Verifier(keys: keys)
        return endpoint
    }

    public func handle(_ head: AttemptHead, input: AttemptInput, output: AttemptOutput) async {
        let driver = InvocationDriver(
            protocolVersion: head.protocolVersion,
            output: output,
            speculativeSteps: head.speculativeSteps
        )
        guard let handler = services[head.service]?.handlers[head.handler] else {
            driver.failAttempt(code: 404, message: "this endpoint has no handler \(head.service)/\(head.handler)")
            return
        }
        // Frames reach the driver on the thread that hands them in: no reader task, no wake-up per frame.
        // Cancelling the attempt ends its input, as the end of a request body would.
        input.deliver(to: { driver.receive($0) }, onEnd: { driver.receiveEndOfInput() })
        defer { input.detach() }
        await withTaskCancellationHandler {
            await Self.execute(handler, driver: driver)
        } onCancel: {
            input.finish()
        }
    }

    /// Runs the handler once the journal is replayed and writes how it ended.
    private static func execute(_ handler: HandlerDefinition, driver: InvocationDriver) async {
        do {
            try await driver.waitUntilReady()
        } catch {
            return
        }
        do {
            let output = try await handler.invoke(driver)
            try driver.perform { try $0.writeOutput(.success(output)) }
        } catch let terminal as TerminalError {
            _ = try? driver.perform { try $0.writeOutput(.failure(terminal)) }
        } catch {
            // Suspended or failed attempts already wrote their terminal frame; anything else is retried.
            driver.failAttempt(code: 500, message: String(describing: error))
        }
    }

    private static func manifestEntry(for service: ServiceDefinition) -> EndpointManifest.Service {
        var entry = EndpointManifest.Service(
            name: service.name,
            ty: service.type,
            handlers: service.handlerNames.compactMap { service.handlers[$0] }.map { handler in
                var entry = EndpointManifest.Handler(
                    name: handler.name,
                    ty: handler.kind.flatMap { EndpointManifest.HandlerType(rawValue: $0.rawValue) }
                )
                service.handlerOptions[handler.name]?.apply(to: &entry)
                if let triggers = service.handlerTriggers[handler.name], !triggers.isEmpty {
                    entry.metadata = (entry.metadata ?? [:]).merging([Trigger.metadataKey: Trigger.metadata(triggers)])
                    {
                        $1
                    }
                }
                return entry
            }
        )
        service.options.apply(to: &entry)
        return entry
    }
}
