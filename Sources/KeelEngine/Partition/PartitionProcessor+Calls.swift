import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// Commands that reach other invocations: calls and sends, signals and awakeables, attach and output.
///
/// A command that changes another invocation is stored in the same transaction as that change: the partition
/// that owns the other invocation enqueues both, so a crash keeps both or neither.
extension PartitionProcessor {
    /// What a caller hands to the callee's partition.
    struct ChildRequest: Sendable {
        var invocation: NewInvocation
        var executeAt: Int64?
        /// Nil for an invocation another node's partition started without a caller (an event, a schedule).
        var caller: InvocationID?
        /// The caller's journal appends, stored together with the callee.
        var callerOperations: [StoreOperation]
        /// For calls (not sends): the caller waits for the result.
        var subscription: Subscription?
        /// The id is derived from the request (idempotency key or workflow), so it may exist already.
        var isDeterministic: Bool
        /// For a caller on another node's partition: how the result of a callee that completed already
        /// reaches it, stored in the transaction that stores `callerOperations` (a local caller appends it
        /// itself).
        var answer: (@Sendable (InvocationResult) -> [StoreOperation])? = nil

        var owners: [InvocationID] { caller.map { [$0] } ?? [] }
        var callerName: String { caller?.description ?? "the sender" }

        /// The caller's operations, with the result's notification for a remote caller.
        func operations(answering result: InvocationResult) -> [StoreOperation] {
            callerOperations + (answer?(result) ?? [])
        }
    }

    enum ChildOutcome: Sendable {
        /// The callee was created, or an existing one will answer the subscription.
        case accepted
        /// The callee finished before: this is its result for the caller.
        case completed(InvocationResult)
        case failed(String)
    }

    // MARK: - Call and one-way call

    func call(_ type: MessageType, _ frame: Frame, of id: InvocationID) async throws -> FrameVerdict {
        var target: InvocationTarget
        var parameter: Data
        var headers: [PBHeader]
        var idempotencyKey: String?
        var invokeTime: UInt64 = 0
        var idCompletion: UInt32
        var resultCompletion: UInt32?
        if type == .call {
            let message = try frame.decode(PBCallCommandMessage.self)
            target = InvocationTarget(
                service: message.serviceName,
                handler: message.handlerName,
                key: message.key.isEmpty ? nil : message.key
            )
            (parameter, headers, idCompletion, resultCompletion) = (
                message.parameter, message.headers, message.invocationIDNotificationIdx, message.resultCompletionID
            )
            if message.hasIdempotencyKey { idempotencyKey = message.idempotencyKey }
        } else {
            let message = try frame.decode(PBOneWayCallCommandMessage.self)
            target = InvocationTarget(
                service: message.serviceName,
                handler: message.handlerName,
                key: message.key.isEmpty ? nil : message.key
            )
            (parameter, headers, idCompletion, invokeTime) = (
                message.parameter, message.headers, message.invocationIDNotificationIdx, message.invokeTime
            )
            if message.hasIdempotencyKey { idempotencyKey = message.idempotencyKey }
        }
        if target.service == EventRules.publishService {
            return try await publishEvent(
                frame,
                of: id,
                parameter: parameter,
                idCompletion: idCompletion,
                resultCompletion: resultCompletion
            )
        }
        let resolved: ServiceRegistry.Resolved
        do {
            resolved = try registry.resolve(target)
        } catch {
            return .failed("command precondition: \(type) to \(target) refused: \(error.message)", nextRetryDelay: nil)
        }
        target = resolved.target
        if idempotencyKey?.isEmpty == true {
            return .failed(
                "command precondition: \(type) to \(target) has an empty idempotency key",
                nextRetryDelay: nil
            )
        }
        let calleeID = IdentityDerivation.invocationID(
            for: resolved,
            idempotencyKey: idempotencyKey,
            randomKey: router.localPartitionKey
        )
        var input = PBInputCommandMessage()
        input.headers = headers
        if let tracing {
            let caller = active[id]?.attempt?.trace?.span.context
            let traced = tracing.started(
                calleeID,
                target: target,
                headers: headers.map { ($0.key, $0.value) },
                origin: type == .call ? .call(from: caller) : .send(from: caller)
            )
            input.headers = traced.map { header in
                PBHeader.with {
                    $0.key = header.0
                    $0.value = header.1
                }
            }
        }
        input.value = PBValue.with { $0.content = parameter }
        let inputEntry = JournalEntry(type: MessageType.input.rawValue, payload: try input.serializedData())

        let command = JournalEntry(type: frame.type, payload: frame.payload)
        let idNotice = Notifications.invocationID(completionID: idCompletion, calleeID)
        let subscription = resultCompletion.map {
            Subscription(
                topic: .invocation(calleeID),
                subscriber: id,
                completionID: $0,
                notificationType: MessageType.callCompletion.rawValue
            )
        }
        let request = ChildRequest(
            invocation: NewInvocation(
                id: calleeID,
                resolved: resolved,
                input: inputEntry,
                idempotencyKey: idempotencyKey
            ),
            executeAt: invokeTime > 0 ? Int64(clamping: invokeTime) : nil,
            caller: id,
            callerOperations: [
                .appendJournal(id, index: 0, entry: command), .appendJournal(id, index: 0, entry: idNotice),
            ],
            subscription: subscription,
            isDeterministic: idempotencyKey != nil || resolved.handlerKind == .workflow
        )
        cacheCommand(command, of: id)
        let partition: PartitionProcessor
        switch router.route(calleeID) {
        case nil:
            return .failed("the engine is stopping", nextRetryDelay: nil)
        case .remote(let index):
            let start = PartitionMessage.Start(
                calleeID,
                resolved: resolved,
                input: inputEntry,
                idempotencyKey: idempotencyKey,
                executeAt: request.executeAt,
                caller: id,
                subscription: subscription
            )
            guard let message = outboxMessage(.start(start), partition: index),
                writer.enqueue(request.callerOperations + [message], for: id) != nil
            else {
                active[id]?.journal = nil
                return .failed("an earlier write of \(id) failed", nextRetryDelay: nil)
            }
            return await streamOwnNotifications([idNotice], to: id)
        case .local(let local):
            partition = local
        }
        let outcome = await partition.acceptChild(request)
        if partition.isGone { return movedWhileAsked(id) }
        var notices = [idNotice]
        switch outcome {
        case .accepted:
            break
        case .completed(let result):
            if let resultCompletion {
                let entry = Notifications.entry(
                    MessageType.callCompletion.rawValue,
                    completionID: resultCompletion,
                    result: result
                )
                writer.enqueue([.appendJournal(id, index: 0, entry: entry)], for: id)
                notices.append(entry)
            }
        case .failed(let message):
            active[id]?.journal = nil
            return .failed(message, nextRetryDelay: nil)
        }
        return await streamOwnNotifications(notices, to: id)
    }

    /// A handler's `KeelEvents/publish` (the SDKs' `ctx.publish`): publishes the event, then journals the
    /// command with its answer. The event's id, unless the handler names one, is derived from the invocation
    /// and the command's notification index, so a retried attempt that issues the command again (its journal
    /// entry was not stored before a crash) publishes the same event, a duplicate.
    private func publishEvent(
        _ frame: Frame,
        of id: InvocationID,
        parameter: Data,
        idCompletion: UInt32,
        resultCompletion: UInt32?
    ) async throws -> FrameVerdict {
        let command = JournalEntry(type: frame.type, payload: frame.payload)
        let result: InvocationResult
        var eventID = "\(id)-\(idCompletion)"
        do {
            let request = try EventRules.publishRequest(parameter)
            eventID = request.id ?? eventID
            let receipt = try await router.publish(
                Engine.Event(name: request.name, data: request.data, key: request.key, id: eventID)
            )
            result = .success(Engine.publishAnswer(receipt))
        } catch let error as EventRuleError {
            result = .failure(Failure(code: 400, message: error.message))
        } catch let error as EngineError where error.code == .badRequest {
            result = .failure(Failure(code: 400, message: error.message))
        } catch {
            return .failed("publishing event \(eventID) failed: \(error)", nextRetryDelay: nil)
        }
        let idNotice = Notifications.invocationID(
            completionID: idCompletion,
            IdentityDerivation.idempotentID(
                target: InvocationTarget(service: EventRules.publishService, handler: "publish", key: nil),
                idempotencyKey: eventID
            )
        )
        var entries = [command, idNotice]
        if let resultCompletion {
            entries.append(
                Notifications.entry(MessageType.callCompletion.rawValue, completionID: resultCompletion, result: result)
            )
        }
        cacheCommand(command, of: id)
        guard writer.enqueue(entries.map { .appendJournal(id, index: 0, entry: $0) }, for: id) != nil else {
            return .failed("an earlier write of \(id) failed", nextRetryDelay: nil)
        }
        return await streamOwnNotifications(Array(entries.dropFirst()), to: id)
    }

    /// Creates (or finds) the callee of a call and stores it with the caller's command.
    func acceptChild(_ request: ChildRequest) async -> ChildOutcome {
        let calleeID = request.invocation.id
        if active[calleeID] != nil { return joinExisting(request) }
        let settings = settings(of: request.invocation)
        let sharedStart: Int64?
        do {
            sharedStart = try await sharedRateGate(request.invocation, settings: settings, executeAt: request.executeAt)
        } catch {
            return .failed(error.message)
        }
        if active[calleeID] != nil { return joinExisting(request) }
        if request.isDeterministic {
            let stored: InvocationRecord?
            let raced: Bool
            switch await existing(calleeID) {
            case .success(let found): (stored, raced) = found
            case .failure(let error): return .failed("storage: \(error.message)")
            }
            if active[calleeID] != nil { return joinExisting(request) }
            if raced {
                // Created, and completed already, while the store was read: the stored record has it now.
                return .failed("invocation \(calleeID) was created concurrently; the retry finds it")
            }
            if let stored {
                let result: InvocationResult =
                    if request.invocation.resolved.handlerKind == .workflow, request.subscription != nil {
                        .failure(Self.workflowAlreadyInvoked)
                    } else {
                        stored.result ?? .failure(Failure(code: 404, message: "invocation \(calleeID) not found"))
                    }
                guard writer.enqueue(request.operations(answering: result), for: request.owners) != nil else {
                    return .failed("an earlier write of \(request.callerName) failed")
                }
                return .completed(result)
            }
        }
        let executeAt: Int64?
        do {
            executeAt = try rateGate(request.invocation, settings: settings, executeAt: sharedStart)
        } catch {
            return .failed(error.message)
        }
        let record = admit(request.invocation, executeAt: executeAt, settings: settings)
        var operations = request.callerOperations
        if let subscription = request.subscription {
            subscribers[subscription.topic, default: []].append(subscription)
            operations.append(.subscribe(subscription))
        }
        operations += [.insertInvocation(record), .appendJournal(calleeID, index: 0, entry: request.invocation.input)]
        guard writer.enqueue(operations, for: request.owners + [calleeID]) != nil else {
            if let subscription = request.subscription {
                subscribers[subscription.topic]?.removeAll { $0 == subscription }
            }
            forget(calleeID, result: nil)
            return .failed("an earlier write of \(request.callerName) failed")
        }
        perform(lifecycle.launch(calleeID))
        return .accepted
    }

    static let workflowAlreadyInvoked = Failure(code: 409, message: "the workflow method was already invoked")

    /// A call or send to an invocation that exists (same idempotency key, or the same workflow).
    private func joinExisting(_ request: ChildRequest) -> ChildOutcome {
        var operations = request.callerOperations
        let workflowCall = request.invocation.resolved.handlerKind == .workflow && request.subscription != nil
        if let completing = active[request.invocation.id]?.completingWith {
            // Its completion is being stored: answer with its result (stored first, the writer keeps order).
            let result = workflowCall ? .failure(Self.workflowAlreadyInvoked) : completing
            guard writer.enqueue(request.operations(answering: result), for: request.owners) != nil else {
                return .failed("an earlier write of \(request.callerName) failed")
            }
            return .completed(result)
        }
        if let subscription = request.subscription, !workflowCall {
            subscribers[subscription.topic, default: []].append(subscription)
            operations.append(.subscribe(subscription))
        }
        if workflowCall { operations += request.answer?(.failure(Self.workflowAlreadyInvoked)) ?? [] }
        guard writer.enqueue(operations, for: request.owners) != nil else {
            return .failed("an earlier write of \(request.callerName) failed")
        }
        return workflowCall ? .completed(.failure(Self.workflowAlreadyInvoked)) : .accepted
    }

    // MARK: - Signals and awakeables

    func signal(_ type: MessageType, _ frame: Frame, of id: InvocationID) async throws -> FrameVerdict {
        let command = JournalEntry(type: frame.type, payload: frame.payload)
        let target: InvocationID
        let entry: JournalEntry
        if type == .completeAwakeable {
            let message = try frame.decode(PBCompleteAwakeableCommandMessage.self)
            guard let awakeable = AwakeableID(message.awakeableID), let waiting = awakeable.invocationID else {
                return .failed(
                    "command precondition: '\(message.awakeableID)' is not an awakeable id (sign_1…)",
                    nextRetryDelay: nil
                )
            }
            guard awakeable.signalIndex >= InputRules.firstAwakeableSignal else {
                return .failed(
                    "command precondition: '\(message.awakeableID)' names signal \(awakeable.signalIndex), which is reserved for the runtime",
                    nextRetryDelay: nil
                )
            }
            let result: InvocationResult
            switch message.result {
            case .failure(let failure): result = .failure(Failure(failure))
            case .value(let value): result = .success(value.content)
            case nil: result = .success(Data())
            }
            target = waiting
            entry = Notifications.signal(index: awakeable.signalIndex, result: result)
        } else {
            let message = try frame.decode(PBSendSignalCommandMessage.self)
            guard let parsed = InvocationID(message.targetInvocationID) else {
                return .failed(
                    "command precondition: '\(message.targetInvocationID)' is not an invocation id",
                    nextRetryDelay: nil
                )
            }
            target = parsed
            let result: InvocationResult?
            switch message.result {
            case .failure(let failure): result = .failure(Failure(failure))
            case .value(let value): result = .success(value.content)
            case .void, nil: result = nil
            }
            switch message.signalID {
            case .idx(1):
                cacheCommand(command, of: id)
                switch router.route(target) {
                case nil:
                    return .failed("the engine is stopping", nextRetryDelay: nil)
                case .remote(let index):
                    return await sendToPartition(index, .cancel(target: target.description), command: command, of: id)
                case .local(let partition):
                    _ = try? await partition.cancel(
                        target,
                        with: [.appendJournal(id, index: 0, entry: command)],
                        owners: [id]
                    )
                    if partition.isGone { return movedWhileAsked(id) }
                }
                return await streamOwnNotifications([], to: id)
            case .idx(let index):
                entry = Notifications.signal(index: index, result: result)
            case .name(let name):
                entry = Notifications.namedSignal(name, result: result)
            case nil:
                return .failed("protocol violation: SendSignal without a signal id", nextRetryDelay: nil)
            }
        }
        cacheCommand(command, of: id)
        switch router.route(target) {
        case nil:
            return .failed("the engine is stopping", nextRetryDelay: nil)
        case .remote(let index):
            return await sendToPartition(
                index,
                .signal(target: target.description, entry: .init(entry)),
                command: command,
                of: id
            )
        case .local(let partition):
            await partition.deliver(
                entry,
                to: target,
                with: [.appendJournal(id, index: 0, entry: command)],
                owners: [id]
            )
            if partition.isGone { return movedWhileAsked(id) }
        }
        return await streamOwnNotifications([], to: id)
    }

    /// The partition asked (on this node) was being given up to another node meanwhile: what it stored of the
    /// request, if anything, is uncertain, so the attempt ends and is retried from the stored journal; the
    /// retry sends the command to the partition's new owner.
    func movedWhileAsked(_ id: InvocationID) -> FrameVerdict {
        active[id]?.journal = nil
        return .failed("the partition asked moved to another node of the cluster; retrying", nextRetryDelay: nil)
    }

    /// Stores invocation `id`'s command with the outbox message that carries its effect to partition
    /// `partition`, on another node.
    func sendToPartition(
        _ partition: Int,
        _ message: PartitionMessage,
        command: JournalEntry,
        of id: InvocationID
    ) async -> FrameVerdict {
        guard let outbox = outboxMessage(message, partition: partition),
            writer.enqueue([.appendJournal(id, index: 0, entry: command), outbox], for: id) != nil
        else {
            active[id]?.journal = nil
            return .failed("an earlier write of \(id) failed", nextRetryDelay: nil)
        }
        return await streamOwnNotifications([], to: id)
    }

    // MARK: - Helpers

    /// Adds a command the caller's partition did not enqueue itself (another partition stores it) to the cache.
    func cacheCommand(_ entry: JournalEntry, of id: InvocationID) {
        active[id]?.journal?.append(entry)
        journalGrew(id)
    }

    /// Waits until what the invocation wrote is durable, then caches and streams `notices` (its own
    /// notifications, enqueued already) to the live attempt.
    func streamOwnNotifications(_ notices: [JournalEntry], to id: InvocationID) async -> FrameVerdict {
        do {
            try await writer.commit([], for: id)
        } catch {
            return .failed("storage: \(StoreError(wrapping: error).message)", nextRetryDelay: nil)
        }
        for entry in notices {
            active[id]?.journal?.append(entry)
            active[id]?.attempt?.input.yield(Frame(type: entry.type, payload: entry.payload))
        }
        if !notices.isEmpty { active[id]?.attempt?.lastActivity = clock.now() }
        return .proceed
    }
}
