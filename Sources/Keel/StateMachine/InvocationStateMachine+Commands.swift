import Foundation
import KeelProtocol
import SwiftProtobuf

/// Who a call, a send or a signal goes to, and how: the fields a replay must find unchanged.
struct CallRequest: Hashable, Sendable {
    var service: String
    var handler: String
    /// The object or workflow key; empty for services.
    var key: String
    var parameter: Data
    /// In a stable order: they are part of what a replay compares.
    var headers: [Header]
    var idempotencyKey: String?
    /// The observability name of the command.
    var name: String

    struct Header: Hashable, Sendable {
        var name: String
        var value: String
    }

    static func headers(_ dictionary: [String: String]) -> [Header] {
        dictionary.sorted { $0.key < $1.key }.map { Header(name: $0.key, value: $0.value) }
    }

    var protocolHeaders: [PBHeader] {
        headers.map { header in
            PBHeader.with {
                $0.key = header.name
                $0.value = header.value
            }
        }
    }

    /// Describes the target for mismatch messages.
    var target: String {
        key.isEmpty ? "\(service)/\(handler)" : "\(service)/\(key)/\(handler)"
    }
}

/// The invocation an attach or output read is about.
public enum InvocationTarget: Hashable, Sendable {
    /// An invocation by id (`inv_1…`).
    case invocation(String)
    /// The `run` of a workflow, by workflow name and key.
    case workflow(name: String, key: String)
    /// The invocation a request with an idempotency key started.
    case idempotentRequest(service: String, key: String?, handler: String, idempotencyKey: String)
}

/// Which signal a `SendSignal` delivers.
enum SignalID: Hashable, Sendable {
    case index(UInt32)
    case name(String)
}

/// What a signal, an awakeable or a promise is completed with.
enum CompletionPayload: Hashable, Sendable {
    case void
    case value(Data)
    case failure(TerminalError)
}

extension InvocationStateMachine {
    // MARK: - Sleep

    /// `SleepCommand`: the runtime notifies the returned completion id at `wakeUpTime` (ms since the epoch).
    /// The wake-up time is not compared on replay (it is computed from the clock).
    mutating func sleep(wakeUpTime: UInt64, name: String) throws(ProtocolError) -> UInt32 {
        let id = allocateCompletionID()
        var message = PBSleepCommandMessage()
        message.wakeUpTime = wakeUpTime
        message.resultCompletionID = id
        message.name = name
        if let stored = try command(.sleep, message), stored.resultCompletionID != id || stored.name != name {
            throw mismatch(
                "the journal has sleep '\(stored.name)' (completion \(stored.resultCompletionID)) where the handler now sleeps '\(name)' (completion \(id))"
            )
        }
        return id
    }

    // MARK: - Calls and sends

    /// `CallCommand`: allocates the invocation-id completion first, then the result completion.
    mutating func call(_ request: CallRequest) throws(ProtocolError) -> (invocationID: UInt32, result: UInt32) {
        let invocationID = allocateCompletionID()
        let result = allocateCompletionID()
        var message = PBCallCommandMessage()
        message.serviceName = request.service
        message.handlerName = request.handler
        message.key = request.key
        message.parameter = request.parameter
        message.headers = request.protocolHeaders
        if let idempotencyKey = request.idempotencyKey { message.idempotencyKey = idempotencyKey }
        message.invocationIDNotificationIdx = invocationID
        message.resultCompletionID = result
        message.name = request.name
        if let stored = try command(.call, message) {
            try check(call: CallRequest(stored: stored), against: request, kind: "call")
            guard stored.invocationIDNotificationIdx == invocationID, stored.resultCompletionID == result else {
                throw mismatch(
                    "the journal's call to \(stored.serviceName)/\(stored.handlerName) has completions \(stored.invocationIDNotificationIdx)/\(stored.resultCompletionID), expected \(invocationID)/\(result)"
                )
            }
        }
        trackChildCall(invocationID)
        return (invocationID, result)
    }

    /// `OneWayCallCommand`: returns the invocation-id completion. `invokeTime` (ms since the epoch, 0 = now) is
    /// not compared on replay: it is computed from the clock.
    mutating func send(_ request: CallRequest, invokeTime: UInt64) throws(ProtocolError) -> UInt32 {
        let invocationID = allocateCompletionID()
        var message = PBOneWayCallCommandMessage()
        message.serviceName = request.service
        message.handlerName = request.handler
        message.key = request.key
        message.parameter = request.parameter
        message.headers = request.protocolHeaders
        message.invokeTime = invokeTime
        if let idempotencyKey = request.idempotencyKey { message.idempotencyKey = idempotencyKey }
        message.invocationIDNotificationIdx = invocationID
        message.name = request.name
        if let stored = try command(.oneWayCall, message) {
            try check(call: CallRequest(stored: stored), against: request, kind: "send")
            guard stored.invocationIDNotificationIdx == invocationID else {
                throw mismatch(
                    "the journal's send to \(stored.serviceName)/\(stored.handlerName) has completion \(stored.invocationIDNotificationIdx), expected \(invocationID)"
                )
            }
        }
        return invocationID
    }

    private func check(call stored: CallRequest, against request: CallRequest, kind: String) throws(ProtocolError) {
        guard stored.service == request.service, stored.handler == request.handler, stored.key == request.key else {
            throw mismatch(
                "the journal has a \(kind) to \(stored.target) where the handler now calls \(request.target)"
            )
        }
        guard stored.parameter == request.parameter else {
            throw mismatch("the journal's \(kind) to \(stored.target) has another input than the handler now sends")
        }
        guard stored.headers == request.headers, stored.idempotencyKey == request.idempotencyKey,
            stored.name == request.name
        else {
            throw mismatch(
                "the journal's \(kind) to \(stored.target) has other headers, idempotency key or name than the handler now uses"
            )
        }
    }

    // MARK: - Signals and awakeables

    /// `SendSignalCommand` to another invocation: CANCEL is index 1 with a void payload.
    mutating func sendSignal(to target: String, _ signal: SignalID, _ payload: CompletionPayload) throws(ProtocolError)
    {
        var message = PBSendSignalCommandMessage()
        message.targetInvocationID = target
        switch signal {
        case .index(let index): message.idx = index
        case .name(let name): message.name = name
        }
        switch payload {
        case .void: message.void = PBVoid()
        case .value(let data): message.value = PBValue.with { $0.content = data }
        case .failure(let failure): message.failure = failure.protocolFailure
        }
        if let stored = try command(.sendSignal, message) {
            guard stored.targetInvocationID == target, stored.signalID == message.signalID else {
                throw mismatch(
                    "the journal signals \(stored.targetInvocationID) (\(String(describing: stored.signalID))) where the handler now signals \(target) (\(signal))"
                )
            }
            guard stored.result == message.result else {
                throw mismatch("the journal's signal to \(target) carries another payload than the handler now sends")
            }
        }
    }

    /// `CompleteAwakeableCommand`: value (field 2) or failure (field 3).
    mutating func completeAwakeable(_ awakeableID: String, _ payload: CompletionPayload) throws(ProtocolError) {
        var message = PBCompleteAwakeableCommandMessage()
        message.awakeableID = awakeableID
        switch payload {
        case .void: message.value = PBValue()
        case .value(let data): message.value = PBValue.with { $0.content = data }
        case .failure(let failure): message.failure = failure.protocolFailure
        }
        if let stored = try command(.completeAwakeable, message) {
            guard stored.awakeableID == awakeableID else {
                throw mismatch(
                    "the journal completes awakeable \(stored.awakeableID) where the handler now completes \(awakeableID)"
                )
            }
            guard stored.result == message.result else {
                throw mismatch(
                    "the journal completes awakeable \(awakeableID) with another result than the handler now does"
                )
            }
        }
    }

    // MARK: - Promises

    /// `GetPromiseCommand`: completes once the promise is resolved or rejected.
    mutating func getPromise(_ key: String) throws(ProtocolError) -> UInt32 {
        let id = allocateCompletionID()
        var message = PBGetPromiseCommandMessage()
        message.key = key
        message.resultCompletionID = id
        if let stored = try command(.getPromise, message), stored.key != key || stored.resultCompletionID != id {
            throw mismatch(
                "the journal reads promise '\(stored.key)' (completion \(stored.resultCompletionID)) where the handler now reads '\(key)' (completion \(id))"
            )
        }
        return id
    }

    /// `PeekPromiseCommand`: completes at once, void while the promise is pending.
    mutating func peekPromise(_ key: String) throws(ProtocolError) -> UInt32 {
        let id = allocateCompletionID()
        var message = PBPeekPromiseCommandMessage()
        message.key = key
        message.resultCompletionID = id
        if let stored = try command(.peekPromise, message), stored.key != key || stored.resultCompletionID != id {
            throw mismatch(
                "the journal peeks promise '\(stored.key)' (completion \(stored.resultCompletionID)) where the handler now peeks '\(key)' (completion \(id))"
            )
        }
        return id
    }

    /// `CompletePromiseCommand`: completes void, or with a 409 failure if the promise was already completed.
    mutating func completePromise(_ key: String, _ payload: CompletionPayload) throws(ProtocolError) -> UInt32 {
        let id = allocateCompletionID()
        var message = PBCompletePromiseCommandMessage()
        message.key = key
        message.resultCompletionID = id
        switch payload {
        case .void: message.completionValue = PBValue()
        case .value(let data): message.completionValue = PBValue.with { $0.content = data }
        case .failure(let failure): message.completionFailure = failure.protocolFailure
        }
        if let stored = try command(.completePromise, message) {
            guard stored.key == key, stored.resultCompletionID == id else {
                throw mismatch(
                    "the journal completes promise '\(stored.key)' (completion \(stored.resultCompletionID)) where the handler now completes '\(key)' (completion \(id))"
                )
            }
            guard stored.completion == message.completion else {
                throw mismatch("the journal completes promise '\(key)' with another result than the handler now does")
            }
        }
        return id
    }

    // MARK: - Attach and output

    /// `AttachInvocationCommand`: completes with the target's result once it is done.
    mutating func attachInvocation(_ target: InvocationTarget) throws(ProtocolError) -> UInt32 {
        try targetCommand(.attachInvocation, PBAttachInvocationCommandMessage(), target, verb: "attaches to")
    }

    /// `GetInvocationOutputCommand`: completes at once, void while the target is still running.
    mutating func getInvocationOutput(_ target: InvocationTarget) throws(ProtocolError) -> UInt32 {
        try targetCommand(
            .getInvocationOutput,
            PBGetInvocationOutputCommandMessage(),
            target,
            verb: "reads the output of"
        )
    }

    /// Attach and output carry the same target fields and one completion.
    private mutating func targetCommand<M: InvocationTargetCommand>(
        _ type: MessageType,
        _ empty: M,
        _ target: InvocationTarget,
        verb: String
    ) throws(ProtocolError) -> UInt32 {
        let id = allocateCompletionID()
        var message = empty
        message.resultCompletionID = id
        switch target {
        case .invocation(let invocation):
            message.invocationID = invocation
        case .workflow(let name, let key):
            message.workflowTarget = PBWorkflowTarget.with {
                $0.workflowName = name
                $0.workflowKey = key
            }
        case .idempotentRequest(let service, let key, let handler, let idempotencyKey):
            message.idempotentRequestTarget = PBIdempotentRequestTarget.with {
                $0.serviceName = service
                if let key { $0.serviceKey = key }
                $0.handlerName = handler
                $0.idempotencyKey = idempotencyKey
            }
        }
        if let stored = try command(type, message), !stored.sameTarget(as: message) || stored.resultCompletionID != id {
            throw mismatch(
                "the journal \(verb) another invocation (or completion) than the handler now does (\(target))"
            )
        }
        return id
    }

    // MARK: - Retries

    /// How many times the current step was tried and for how long, counting the attempt in progress
    /// (`attemptDuration`). Only the first entry written after the replay inherits the `StartMessage`
    /// counters: any later one is on its first try.
    func retryInfo(attemptDuration: Duration) -> (attempts: UInt32, elapsed: Duration) {
        guard processingFirstEntry, let start else { return (1, attemptDuration) }
        let previous: Duration =
            start.retryCountSinceLastStoredEntry == 0
            ? .zero
            : .milliseconds(Int64(clamping: start.durationSinceLastStoredEntry))
        return (start.retryCountSinceLastStoredEntry &+ 1, previous + attemptDuration)
    }
}

/// The two commands that name another invocation (`AttachInvocation`, `GetInvocationOutput`): the same fields,
/// in two generated types.
protocol InvocationTargetCommand: SwiftProtobuf.Message {
    var resultCompletionID: UInt32 { get set }
    var invocationID: String { get set }
    var workflowTarget: PBWorkflowTarget { get set }
    var idempotentRequestTarget: PBIdempotentRequestTarget { get set }
    func sameTarget(as other: Self) -> Bool
}

extension PBAttachInvocationCommandMessage: InvocationTargetCommand {
    func sameTarget(as other: Self) -> Bool { target == other.target }
}

extension PBGetInvocationOutputCommandMessage: InvocationTargetCommand {
    func sameTarget(as other: Self) -> Bool { target == other.target }
}

/// The fields `CallCommand` and `OneWayCallCommand` share, in two generated types.
protocol CallCommandFields {
    var serviceName: String { get }
    var handlerName: String { get }
    var key: String { get }
    var parameter: Data { get }
    var headers: [PBHeader] { get }
    var hasIdempotencyKey: Bool { get }
    var idempotencyKey: String { get }
    var name: String { get }
}

extension PBCallCommandMessage: CallCommandFields {}
extension PBOneWayCallCommandMessage: CallCommandFields {}

extension CallRequest {
    /// The request a stored call or send command describes, to compare with the one the handler makes now.
    init(stored: some CallCommandFields) {
        self.init(
            service: stored.serviceName,
            handler: stored.handlerName,
            key: stored.key,
            parameter: stored.parameter,
            headers: stored.headers.map { Header(name: $0.key, value: $0.value) },
            idempotencyKey: stored.hasIdempotencyKey ? stored.idempotencyKey : nil,
            name: stored.name
        )
    }
}
