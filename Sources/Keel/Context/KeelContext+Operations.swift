import Foundation
import KeelProtocol

extension InvocationDriver {
    /// Journals a `SleepCommand` waking up `duration` from now (a negative duration means now).
    func timer(for duration: Duration, name: String) throws(AttemptEnded) -> DurableFuture<Void> {
        let wakeUpTime = Self.nowMilliseconds().saturatingAdding(duration.wholeMilliseconds)
        let id = try perform { try $0.sleep(wakeUpTime: wakeUpTime, name: name) }
        return DurableFuture(driver: self, key: .completion(id)) { try NotificationDecoding.void($0) }
    }

    static func nowMilliseconds() -> UInt64 {
        UInt64(max(0, (Date().timeIntervalSince1970 * 1000).rounded()))
    }

    /// Journals a call and returns its futures.
    func call<Output: Sendable>(
        _ request: CallRequest,
        decode: @escaping @Sendable (Data) throws -> Output
    ) throws(AttemptEnded) -> CallFuture<Output> {
        let ids = try perform { try $0.call(request) }
        let target = request.target
        return CallFuture(
            result: DurableFuture(driver: self, key: .completion(ids.result)) { result in
                switch result {
                case .value(let data): return try decode(data)
                case .void: return try decode(Data())
                case .failure(let code, let message): throw TerminalError(message, code: code)
                case .invocationID, .stateKeys:
                    throw ProtocolError(
                        code: .protocolViolation,
                        message: "the call to \(target) completed with an unexpected kind of result"
                    )
                }
            },
            invocationIDFuture: DurableFuture(driver: self, key: .completion(ids.invocationID)) {
                try NotificationDecoding.invocationID($0)
            }
        )
    }

    /// Journals a one-way call (run after `delay`, if any) and returns the future of the callee's invocation id.
    func send(_ request: CallRequest, delay: Duration?) throws(AttemptEnded) -> DurableFuture<String> {
        let invokeTime: UInt64 = delay.map { Self.nowMilliseconds().saturatingAdding($0.wholeMilliseconds) } ?? 0
        let id = try perform { try $0.send(request, invokeTime: invokeTime) }
        return DurableFuture(driver: self, key: .completion(id)) { try NotificationDecoding.invocationID($0) }
    }
}

// MARK: - Timers

extension KeelContext {
    /// Sleeps durably: the invocation may suspend and resume in a later attempt, even after a crash.
    public func sleep(for duration: Duration, name: String = "") async throws {
        try await timer(for: duration, name: name).value
    }

    /// A durable timer firing `duration` from now (journaled at once); a negative duration fires at once.
    public func timer(for duration: Duration, name: String = "") throws -> DurableFuture<Void> {
        try _driver.timer(for: duration, name: name)
    }
}

// MARK: - Calls and sends

extension KeelContext {
    /// Calls `service`/`handler` (with `key` for virtual objects and workflows) and returns the call's future.
    ///
    /// The input is sent as JSON and the output decoded as `Output`; a terminal failure of the callee is
    /// thrown as a `TerminalError` when the future is awaited. With an `idempotencyKey`, calls with the same
    /// key and target run the callee once.
    public func call<Input: Encodable, Output: Decodable & Sendable>(
        service: String,
        handler: String,
        key: String? = nil,
        input: Input,
        as output: Output.Type = Output.self,
        idempotencyKey: String? = nil,
        headers: [String: String] = [:]
    ) throws -> CallFuture<Output> {
        let request = CallRequest(
            service: service,
            handler: handler,
            key: key ?? "",
            parameter: try JSONSerde.encode(input),
            headers: CallRequest.headers(headers),
            idempotencyKey: idempotencyKey,
            name: ""
        )
        return try _driver.call(request) { try JSONSerde.decode(Output.self, from: $0) }
    }

    /// Sends a one-way call to `service`/`handler`, run after `delay` if given; returns the future of the
    /// callee's invocation id.
    @discardableResult
    public func send<Input: Encodable>(
        service: String,
        handler: String,
        key: String? = nil,
        input: Input,
        delay: Duration? = nil,
        idempotencyKey: String? = nil,
        headers: [String: String] = [:]
    ) throws -> DurableFuture<String> {
        let request = CallRequest(
            service: service,
            handler: handler,
            key: key ?? "",
            parameter: try JSONSerde.encode(input),
            headers: CallRequest.headers(headers),
            idempotencyKey: idempotencyKey,
            name: ""
        )
        return try _driver.send(request, delay: delay)
    }

    /// Publishes an event (Keel's `POST /restate/events`) exactly once: the subscriptions that match `name`
    /// start their handlers with `data` as input. The publish is a journaled call to Keel's built-in
    /// `KeelEvents/publish`, and the event's id is derived from this invocation and the call unless `id` is
    /// given, so a retried handler publishes the same event again, which Keel takes as a duplicate.
    @discardableResult
    public func publish<Payload: Encodable>(
        _ name: String,
        data: Payload,
        key: String? = nil,
        id: String? = nil
    ) async throws -> PublishedEvent {
        let request = CallRequest(
            service: "KeelEvents",
            handler: "publish",
            key: "",
            parameter: try JSONSerde.encode(PublishRequest(name: name, data: data, key: key, id: id)),
            headers: [],
            idempotencyKey: nil,
            name: "publish \(name)"
        )
        return try await _driver.call(request) { try JSONSerde.decode(PublishedEvent.self, from: $0) }.value
    }

    /// Asks the runtime to cancel another invocation (the CANCEL signal; the target decides how to react).
    public func cancel(invocationID: String) throws {
        try _driver.perform { try $0.sendSignal(to: invocationID, .index(1), .void) }
    }

    /// Waits for another invocation to finish and returns its result (a failure is thrown).
    public func attach<Output: Decodable & Sendable>(
        _ target: InvocationTarget,
        as output: Output.Type = Output.self
    ) throws -> DurableFuture<Output> {
        let id = try _driver.perform { try $0.attachInvocation(target) }
        return DurableFuture(driver: _driver, key: .completion(id)) { result in
            try NotificationDecoding.value(Output.self, result, "attaching to \(target)")
        }
    }

    /// The result of another invocation if it finished, nil while it is still running (a failure is thrown).
    public func invocationOutput<Output: Decodable & Sendable>(
        _ target: InvocationTarget,
        as output: Output.Type = Output.self
    ) throws -> DurableFuture<Output?> {
        let id = try _driver.perform { try $0.getInvocationOutput(target) }
        return DurableFuture(driver: _driver, key: .completion(id)) { result in
            try NotificationDecoding.optional(Output.self, result, "the output of \(target)")
        }
    }
}

// MARK: - Awakeables and signals

extension KeelContext {
    /// A new awakeable: give `id` to a system outside (or another handler), which completes it with
    /// `resolveAwakeable` / `rejectAwakeable` or through the ingress; await `future` for the value.
    ///
    /// Not journaled: it reserves the next signal index, so replays produce the same id.
    public func awakeable<Value: Decodable & Sendable>(
        of type: Value.Type = Value.self
    ) throws -> (id: String, future: DurableFuture<Value>) {
        let driver = _driver
        let reserved = try driver.perform { machine -> (UInt32, [UInt8]) in
            (machine.allocateSignalIndex(), machine.start?.id ?? [])
        }
        guard let awakeableID = AwakeableID(invocationIDBytes: reserved.1, signalIndex: reserved.0) else {
            throw TerminalError("awakeables need a 24-byte invocation id from the runtime", code: 500)
        }
        let id = awakeableID.description
        let future = DurableFuture<Value>(driver: driver, key: .signal(reserved.0)) { result in
            try NotificationDecoding.value(Value.self, result, "awakeable \(id)")
        }
        return (id, future)
    }

    /// Completes an awakeable (of any invocation) with `value`.
    public func resolveAwakeable<Value: Encodable>(_ id: String, with value: Value) throws {
        let data = try JSONSerde.encode(value)
        try _driver.perform { try $0.completeAwakeable(id, .value(data)) }
    }

    /// Fails an awakeable: its waiter gets a `TerminalError` with `reason` and `code`.
    public func rejectAwakeable(_ id: String, _ reason: String, code: UInt16 = 500) throws {
        try _driver.perform { try $0.completeAwakeable(id, .failure(TerminalError(reason, code: code))) }
    }

    /// The future of the named signal `name` sent to this invocation (by `resolveSignal` / `rejectSignal`).
    public func signal<Value: Decodable & Sendable>(
        _ name: String,
        as type: Value.Type = Value.self
    ) -> DurableFuture<Value> {
        DurableFuture(driver: _driver, key: .namedSignal(name)) { result in
            try NotificationDecoding.value(Value.self, result, "signal '\(name)'")
        }
    }

    /// Sends the named signal `name` with `value` to another invocation.
    public func resolveSignal<Value: Encodable>(invocationID: String, _ name: String, with value: Value) throws {
        let data = try JSONSerde.encode(value)
        try _driver.perform { try $0.sendSignal(to: invocationID, .name(name), .value(data)) }
    }

    /// Sends the named signal `name` as a failure to another invocation.
    public func rejectSignal(invocationID: String, _ name: String, _ reason: String, code: UInt16 = 500) throws {
        try _driver.perform {
            try $0.sendSignal(to: invocationID, .name(name), .failure(TerminalError(reason, code: code)))
        }
    }
}

/// What `KeelEvents/publish` takes.
private struct PublishRequest<Payload: Encodable>: Encodable {
    var name: String
    var data: Payload
    var key: String?
    var id: String?
}

/// An event a handler published (`ctx.publish`): its id, and the invocation each matching subscription started.
public struct PublishedEvent: Decodable, Sendable, Hashable {
    public struct Delivery: Decodable, Sendable, Hashable {
        public var subscription: String
        public var invocationId: String
    }

    public var id: String
    /// `Accepted`, or `PreviouslyAccepted` when an event with this id was published before.
    public var status: String
    public var invocations: [Delivery]
}
