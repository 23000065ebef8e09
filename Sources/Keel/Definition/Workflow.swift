/// A workflow: a `run` handler that executes at most once per key, plus shared handlers that query or signal
/// it (typically through durable promises) while it runs and after it finished.
///
/// ```swift
/// let approval = Workflow("Approval")
///     .run { (ctx: WorkflowContext, request: Request) in
///         try ctx.set("status", "waiting")
///         let approved = try await ctx.promise("approval", as: Bool.self).value
///         return approved ? "approved" : "rejected"
///     }
///     .shared("approve") { (ctx: WorkflowSharedContext, approved: Bool) in
///         try await ctx.promise("approval", as: Bool.self).resolve(approved)
///     }
/// ```
public struct Workflow: ServiceDefinitionConvertible {
    public var definition: ServiceDefinition

    public init(_ name: String) {
        definition = ServiceDefinition(name: name, type: .workflow)
    }

    /// A workflow named after its contract.
    public init<W: WorkflowContract>(_: W.Type) {
        self.init(W.serviceName)
    }

    /// Sets the `run` handler: it holds the workflow's lock, writes its state, and runs once per key.
    public func run<Input: Decodable, Output: Encodable>(
        _ body: @escaping @Sendable (WorkflowContext, Input) async throws -> Output
    ) -> Workflow {
        adding(HandlerAdapter.make("run", kind: .workflow, context: WorkflowContext.init, body))
    }

    public func run<Input: Decodable>(
        _ body: @escaping @Sendable (WorkflowContext, Input) async throws -> Void
    ) -> Workflow {
        adding(HandlerAdapter.make("run", kind: .workflow, context: WorkflowContext.init, body))
    }

    public func run<Output: Encodable>(
        _ body: @escaping @Sendable (WorkflowContext) async throws -> Output
    ) -> Workflow {
        run { (ctx: WorkflowContext, _: NoInput) in try await body(ctx) }
    }

    /// Adds a shared handler: no lock, read-only state, access to the workflow's promises.
    public func shared<Input: Decodable, Output: Encodable>(
        _ name: String,
        _ body: @escaping @Sendable (WorkflowSharedContext, Input) async throws -> Output
    ) -> Workflow {
        adding(HandlerAdapter.make(name, kind: .shared, context: WorkflowSharedContext.init, body))
    }

    public func shared<Input: Decodable>(
        _ name: String,
        _ body: @escaping @Sendable (WorkflowSharedContext, Input) async throws -> Void
    ) -> Workflow {
        adding(HandlerAdapter.make(name, kind: .shared, context: WorkflowSharedContext.init, body))
    }

    public func shared<Output: Encodable>(
        _ name: String,
        _ body: @escaping @Sendable (WorkflowSharedContext) async throws -> Output
    ) -> Workflow {
        shared(name) { (ctx: WorkflowSharedContext, _: NoInput) in try await body(ctx) }
    }

    func adding(_ handler: HandlerDefinition) -> Workflow {
        var copy = self
        copy.definition.add(handler)
        return copy
    }
}

// MARK: - Implementing contracts

extension Service {
    /// A service named after its contract.
    public init<S: ServiceContract>(_: S.Type) {
        self.init(S.serviceName)
    }

    /// Implements the handler `reference` declares, with the input and output types it declares.
    public func handler<Input: Decodable, Output: Encodable>(
        _ reference: Handler<Input, Output>,
        _ body: @escaping @Sendable (Context, Input) async throws -> Output
    ) -> Service {
        adding(HandlerAdapter.make(reference.name, kind: nil, context: Context.init, body))
    }

    public func handler<Input: Decodable>(
        _ reference: Handler<Input, Void>,
        _ body: @escaping @Sendable (Context, Input) async throws -> Void
    ) -> Service {
        adding(HandlerAdapter.make(reference.name, kind: nil, context: Context.init, body))
    }

    public func handler<Output: Encodable>(
        _ reference: Handler<Void, Output>,
        _ body: @escaping @Sendable (Context) async throws -> Output
    ) -> Service {
        adding(
            HandlerAdapter.make(reference.name, kind: nil, context: Context.init) { (ctx: Context, _: NoInput) in
                try await body(ctx)
            }
        )
    }
}

extension VirtualObject {
    /// A virtual object named after its contract.
    public init<O: VirtualObjectContract>(_: O.Type) {
        self.init(O.serviceName)
    }

    /// Implements the exclusive handler `reference` declares.
    public func handler<Input: Decodable, Output: Encodable>(
        _ reference: Handler<Input, Output>,
        _ body: @escaping @Sendable (ObjectContext, Input) async throws -> Output
    ) -> VirtualObject {
        adding(HandlerAdapter.make(reference.name, kind: .exclusive, context: ObjectContext.init, body))
    }

    public func handler<Output: Encodable>(
        _ reference: Handler<Void, Output>,
        _ body: @escaping @Sendable (ObjectContext) async throws -> Output
    ) -> VirtualObject {
        adding(
            HandlerAdapter.make(reference.name, kind: .exclusive, context: ObjectContext.init) {
                (ctx: ObjectContext, _: NoInput) in
                try await body(ctx)
            }
        )
    }

    /// Implements the shared handler `reference` declares.
    public func shared<Input: Decodable, Output: Encodable>(
        _ reference: Handler<Input, Output>,
        _ body: @escaping @Sendable (ObjectSharedContext, Input) async throws -> Output
    ) -> VirtualObject {
        adding(HandlerAdapter.make(reference.name, kind: .shared, context: ObjectSharedContext.init, body))
    }

    public func shared<Output: Encodable>(
        _ reference: Handler<Void, Output>,
        _ body: @escaping @Sendable (ObjectSharedContext) async throws -> Output
    ) -> VirtualObject {
        adding(
            HandlerAdapter.make(reference.name, kind: .shared, context: ObjectSharedContext.init) {
                (ctx: ObjectSharedContext, _: NoInput) in
                try await body(ctx)
            }
        )
    }
}

extension Workflow {
    /// Implements the `run` handler `reference` declares (its name must be `run`).
    public func run<Input: Decodable, Output: Encodable>(
        _ reference: Handler<Input, Output>,
        _ body: @escaping @Sendable (WorkflowContext, Input) async throws -> Output
    ) -> Workflow {
        adding(HandlerAdapter.make(reference.name, kind: .workflow, context: WorkflowContext.init, body))
    }

    /// Implements the shared handler `reference` declares.
    public func shared<Input: Decodable, Output: Encodable>(
        _ reference: Handler<Input, Output>,
        _ body: @escaping @Sendable (WorkflowSharedContext, Input) async throws -> Output
    ) -> Workflow {
        adding(HandlerAdapter.make(reference.name, kind: .shared, context: WorkflowSharedContext.init, body))
    }

    public func shared<Input: Decodable>(
        _ reference: Handler<Input, Void>,
        _ body: @escaping @Sendable (WorkflowSharedContext, Input) async throws -> Void
    ) -> Workflow {
        adding(HandlerAdapter.make(reference.name, kind: .shared, context: WorkflowSharedContext.init, body))
    }

    public func shared<Output: Encodable>(
        _ reference: Handler<Void, Output>,
        _ body: @escaping @Sendable (WorkflowSharedContext) async throws -> Output
    ) -> Workflow {
        adding(
            HandlerAdapter.make(reference.name, kind: .shared, context: WorkflowSharedContext.init) {
                (ctx: WorkflowSharedContext, _: NoInput) in
                try await body(ctx)
            }
        )
    }
}
