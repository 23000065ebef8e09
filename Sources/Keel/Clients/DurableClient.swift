import Foundation

extension KeelContext {
    /// A typed client of the service `S`: `try await ctx.service(Payments.self).process(order)`.
    public func service<S: ServiceContract>(_: S.Type) -> DurableClient<S> {
        DurableClient(driver: _driver, key: "")
    }

    /// A typed client of the virtual object `O` with `key`: `try await ctx.object(Cart.self, key: id).addItem(item)`.
    public func object<O: VirtualObjectContract>(_: O.Type, key: String) -> DurableClient<O> {
        DurableClient(driver: _driver, key: key)
    }

    /// A typed client of the workflow `W` with `key`: `try await ctx.workflow(Approval.self, key: id).run(payment)`.
    public func workflow<W: WorkflowContract>(_: W.Type, key: String) -> DurableClient<W> {
        DurableClient(driver: _driver, key: key)
    }
}

/// Calls the handlers of one service, object or workflow. Each handler the contract declares appears as a
/// member, checked by the compiler:
///
/// ```swift
/// let receipt = try await ctx.service(Payments.self).process(order)           // call and wait
/// let pending = try ctx.service(Payments.self).process.future(order)          // call, wait later
/// try ctx.object(Cart.self, key: id).send(delay: .seconds(60)).addItem(item)  // one-way, delayed
/// ```
@dynamicMemberLookup
public struct DurableClient<Contract: DurableContract>: Sendable {
    let driver: InvocationDriver
    let key: String
    var idempotencyKey: String?
    var headers: [String: String] = [:]

    init(driver: InvocationDriver, key: String) {
        self.driver = driver
        self.key = key
    }

    public subscript<Input, Output: Sendable>(
        dynamicMember handler: KeyPath<Contract.Type, Handler<Input, Output>>
    ) -> HandlerCall<Input, Output> {
        self.handler(Contract.self[keyPath: handler])
    }

    /// The same as the member syntax, for a handler reference held in a variable.
    public func handler<Input, Output: Sendable>(_ handler: Handler<Input, Output>) -> HandlerCall<Input, Output> {
        HandlerCall(client: target, handler: handler)
    }

    /// Calls made through the returned client carry this idempotency key: the callee runs once per key.
    public func idempotencyKey(_ key: String) -> DurableClient {
        var copy = self
        copy.idempotencyKey = key
        return copy
    }

    /// Calls made through the returned client carry these headers (they reach the callee's `ctx.request`).
    public func headers(_ headers: [String: String]) -> DurableClient {
        var copy = self
        copy.headers = headers
        return copy
    }

    /// A client whose calls are one-way sends, run after `delay` if given.
    public func send(delay: Duration? = nil) -> DurableSendClient<Contract> {
        DurableSendClient(target: target, delay: delay)
    }

    var target: CallTarget {
        CallTarget(
            driver: driver,
            service: Contract.serviceName,
            key: key,
            idempotencyKey: idempotencyKey,
            headers: headers
        )
    }
}

/// Sends one-way calls to the handlers of one service, object or workflow; see ``DurableClient/send(delay:)``.
@dynamicMemberLookup
public struct DurableSendClient<Contract: DurableContract>: Sendable {
    let target: CallTarget
    let delay: Duration?

    public subscript<Input, Output>(dynamicMember handler: KeyPath<Contract.Type, Handler<Input, Output>>) -> SendCall<
        Input
    > {
        self.handler(Contract.self[keyPath: handler])
    }

    public func handler<Input, Output>(_ handler: Handler<Input, Output>) -> SendCall<Input> {
        SendCall(target: target, name: handler.name, delay: delay, encodeInput: handler.encodeInput)
    }
}

/// Where a typed call goes.
struct CallTarget: Sendable {
    let driver: InvocationDriver
    let service: String
    let key: String
    let idempotencyKey: String?
    let headers: [String: String]

    func request(handler: String, parameter: Data) -> CallRequest {
        CallRequest(
            service: service,
            handler: handler,
            key: key,
            parameter: parameter,
            headers: CallRequest.headers(headers),
            idempotencyKey: idempotencyKey,
            name: ""
        )
    }
}

/// One handler of a typed client: call it like a function to call the handler and wait for its result.
public struct HandlerCall<Input, Output: Sendable>: Sendable {
    let client: CallTarget
    let handler: Handler<Input, Output>

    /// Calls the handler and waits for its result; a terminal failure of the callee is thrown.
    public func callAsFunction(_ input: Input) async throws -> Output {
        try await future(input).value
    }

    /// Calls the handler and returns at once: the call's future (result and invocation id).
    public func future(_ input: Input) throws -> CallFuture<Output> {
        let request = client.request(handler: handler.name, parameter: try handler.encodeInput(input))
        return try client.driver.call(request, decode: handler.decodeOutput)
    }

    /// Sends a one-way call (run after `delay`, if given); returns the future of the callee's invocation id.
    @discardableResult
    public func send(_ input: Input, delay: Duration? = nil) throws -> DurableFuture<String> {
        let request = client.request(handler: handler.name, parameter: try handler.encodeInput(input))
        return try client.driver.send(request, delay: delay)
    }
}

extension HandlerCall where Input == Void {
    public func callAsFunction() async throws -> Output {
        try await callAsFunction(())
    }

    public func future() throws -> CallFuture<Output> {
        try future(())
    }

    @discardableResult
    public func send(delay: Duration? = nil) throws -> DurableFuture<String> {
        try send((), delay: delay)
    }
}

/// One handler of a send client: call it like a function to send the one-way call.
public struct SendCall<Input>: Sendable {
    let target: CallTarget
    let name: String
    let delay: Duration?
    let encodeInput: @Sendable (Input) throws -> Data

    /// Sends the call; returns the future of the callee's invocation id.
    @discardableResult
    public func callAsFunction(_ input: Input) throws -> DurableFuture<String> {
        try target.driver.send(target.request(handler: name, parameter: try encodeInput(input)), delay: delay)
    }
}

extension SendCall where Input == Void {
    @discardableResult
    public func callAsFunction() throws -> DurableFuture<String> {
        try callAsFunction(())
    }
}
