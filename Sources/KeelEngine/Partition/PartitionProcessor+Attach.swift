import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// Attach and output commands: waiting for another invocation's result, or reading it if it has one.
extension PartitionProcessor {
    func attachOrOutput(_ type: MessageType, _ frame: Frame, of id: InvocationID) async throws -> FrameVerdict {
        let command = JournalEntry(type: frame.type, payload: frame.payload)
        let completionID: UInt32
        let target: Result<InvocationID, Failure>
        if type == .attachInvocation {
            let message = try frame.decode(PBAttachInvocationCommandMessage.self)
            completionID = message.resultCompletionID
            target = resolveTarget(message.target.map(AttachTarget.init))
        } else {
            let message = try frame.decode(PBGetInvocationOutputCommandMessage.self)
            completionID = message.resultCompletionID
            target = resolveTarget(message.target.map(AttachTarget.init))
        }
        let notificationType: MessageType =
            type == .attachInvocation ? .attachInvocationCompletion : .getInvocationOutputCompletion
        cacheCommand(command, of: id)
        let callerOperations: [StoreOperation] = [.appendJournal(id, index: 0, entry: command)]
        let result: InvocationResult?
        switch target {
        case .failure(let failure):
            result = .failure(failure)
            writer.enqueue(callerOperations, for: id)
        case .success(let targetID):
            let partition: PartitionProcessor
            switch router.route(targetID) {
            case nil:
                return .failed("the engine is stopping", nextRetryDelay: nil)
            case .remote(let index):
                // The owner answers (the result, or no output yet) through the outbox, or subscribes.
                let message = PartitionMessage.observe(
                    target: targetID.description,
                    caller: id.description,
                    completionID: completionID,
                    notificationType: notificationType.rawValue,
                    subscribe: type == .attachInvocation
                )
                guard let outbox = outboxMessage(message, partition: index),
                    writer.enqueue(callerOperations + [outbox], for: id) != nil
                else {
                    active[id]?.journal = nil
                    return .failed("an earlier write of \(id) failed", nextRetryDelay: nil)
                }
                return await streamOwnNotifications([], to: id)
            case .local(let local):
                partition = local
            }
            let subscription =
                type == .attachInvocation
                ? Subscription(
                    topic: .invocation(targetID),
                    subscriber: id,
                    completionID: completionID,
                    notificationType: notificationType.rawValue
                )
                : nil
            let observed = await partition.observe(
                targetID,
                subscription: subscription,
                callerOperations: callerOperations,
                caller: id
            )
            if partition.isGone { return movedWhileAsked(id) }
            switch observed {
            case .failed(let message):
                active[id]?.journal = nil
                return .failed(message, nextRetryDelay: nil)
            case .accepted:
                result = nil
            case .completed(let outcome):
                result = outcome
            }
        }
        var notices: [JournalEntry] = []
        if let result {
            let entry = Notifications.entry(notificationType.rawValue, completionID: completionID, result: result)
            writer.enqueue([.appendJournal(id, index: 0, entry: entry)], for: id)
            notices.append(entry)
        } else if type == .getInvocationOutput {
            let entry = Notifications.void(notificationType, completionID: completionID)
            writer.enqueue([.appendJournal(id, index: 0, entry: entry)], for: id)
            notices.append(entry)
        }
        return await streamOwnNotifications(notices, to: id)
    }

    /// Subscribes to an invocation's result (attach) or reads it (output, `subscription == nil`). Answers
    /// `.accepted` while it runs (subscribed, or no output yet), its result once completed.
    /// `answer`: for a caller on another node's partition, the notification of the result (nil: no output
    /// yet), stored with `callerOperations`.
    func observe(
        _ target: InvocationID,
        subscription: Subscription?,
        callerOperations: [StoreOperation],
        caller: InvocationID,
        answer: (@Sendable (InvocationResult?) -> [StoreOperation])? = nil
    ) async -> ChildOutcome {
        if active[target] == nil {
            let stored: InvocationRecord?
            do {
                stored = try await store.invocation(target)
            } catch {
                return .failed("storage: \(StoreError(wrapping: error).message)")
            }
            if active[target] == nil {
                let result = stored?.result ?? .failure(Failure(code: 404, message: "invocation \(target) not found"))
                guard writer.enqueue(callerOperations + (answer?(result) ?? []), for: [caller]) != nil else {
                    return .failed("an earlier write of \(caller) failed")
                }
                return .completed(result)
            }
        }
        if let result = active[target]?.completingWith {
            guard writer.enqueue(callerOperations + (answer?(result) ?? []), for: [caller]) != nil else {
                return .failed("an earlier write of \(caller) failed")
            }
            return .completed(result)
        }
        var operations = callerOperations
        if let subscription {
            subscribers[subscription.topic, default: []].append(subscription)
            operations.append(.subscribe(subscription))
        } else {
            operations += answer?(nil) ?? []
        }
        guard writer.enqueue(operations, for: [caller]) != nil else {
            return .failed("an earlier write of \(caller) failed")
        }
        return .accepted
    }

    private enum AttachTarget {
        case invocation(String)
        case idempotent(PBIdempotentRequestTarget)
        case workflow(PBWorkflowTarget)

        init(_ target: PBAttachInvocationCommandMessage.OneOf_Target) {
            switch target {
            case .invocationID(let id): self = .invocation(id)
            case .idempotentRequestTarget(let target): self = .idempotent(target)
            case .workflowTarget(let target): self = .workflow(target)
            }
        }

        init(_ target: PBGetInvocationOutputCommandMessage.OneOf_Target) {
            switch target {
            case .invocationID(let id): self = .invocation(id)
            case .idempotentRequestTarget(let target): self = .idempotent(target)
            case .workflowTarget(let target): self = .workflow(target)
            }
        }
    }

    private func resolveTarget(_ target: AttachTarget?) -> Result<InvocationID, Failure> {
        switch target {
        case nil:
            return .failure(Failure(code: 400, message: "the command names no target"))
        case .invocation(let text):
            guard let id = InvocationID(text) else {
                return .failure(Failure(code: 400, message: "'\(text)' is not an invocation id"))
            }
            return .success(id)
        case .idempotent(let request):
            let target = InvocationTarget(
                service: request.serviceName,
                handler: request.handlerName,
                key: request.hasServiceKey ? request.serviceKey : nil
            )
            return .success(IdentityDerivation.idempotentID(target: target, idempotencyKey: request.idempotencyKey))
        case .workflow(let workflow):
            return .success(IdentityDerivation.workflowID(service: workflow.workflowName, key: workflow.workflowKey))
        }
    }
}
