import KeelCore
import KeelProtocol
import Testing

@testable import KeelEngine

@Suite("Service registry")
struct ServiceRegistryTests {
    /// Never runs an attempt: these tests only resolve targets.
    private struct NoTransport: AttemptTransport {
        func handle(_ head: AttemptHead, input: AttemptInput, output: AttemptOutput) async {}
    }

    private static func deployment(_ services: [EndpointManifest.Service]) -> ServiceRegistry.Deployment {
        ServiceRegistry.Deployment(
            id: "dp_test",
            uri: "http://endpoint.invalid",
            manifest: EndpointManifest(protocolMode: .bidiStream, services: services),
            protocolVersion: 6,
            transport: NoTransport()
        )
    }

    @Test(
        "a handler whose manifest gives no type takes its service's default: exclusive on an object, workflow on a workflow",
        arguments: [
            (EndpointManifest.ServiceType.virtualObject, "key", HandlerKind?.some(.exclusive)),
            (.workflow, "key", .some(.workflow)),
            (.service, nil, nil),
        ] as [(EndpointManifest.ServiceType, String?, HandlerKind?)]
    )
    func undeclaredHandlerKind(service: EndpointManifest.ServiceType, key: String?, expected: HandlerKind?) throws {
        let registry = ServiceRegistry()
        try registry.register(
            Self.deployment([.init(name: "Target", ty: service, handlers: [.init(name: "handle")])]),
            force: false
        )
        let resolved = try registry.resolve(InvocationTarget(service: "Target", handler: "handle", key: key))
        #expect(resolved.handlerKind == expected)
    }

    @Test("a declared handler type wins over the default")
    func declaredHandlerKind() throws {
        let registry = ServiceRegistry()
        try registry.register(
            Self.deployment([
                .init(name: "Counter", ty: .virtualObject, handlers: [.init(name: "get", ty: .shared)])
            ]),
            force: false
        )
        let resolved = try registry.resolve(InvocationTarget(service: "Counter", handler: "get", key: "a"))
        #expect(resolved.handlerKind == .shared)
    }
}
