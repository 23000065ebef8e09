import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// Durable promises of workflows. A workflow's `run` and its shared handlers all live in the partition of the
/// workflow key, so each promise is owned by exactly one partition.
extension PartitionProcessor {
    func promiseCommand(_ type: MessageType, _ frame: Frame, of id: InvocationID) async throws -> FrameVerdict {
        guard let object = active[id]?.record.target.object,
            registry.services[object.service]?.kind == .workflow
        else {
            return .failed(
                "command precondition: \(type) is only for workflows, and \(active[id]?.record.target.description ?? id.description) is not one",
                nextRetryDelay: nil
            )
        }
        let command = JournalEntry(type: frame.type, payload: frame.payload)
        let name: String
        let completionID: UInt32
        var completion: InvocationResult?
        switch type {
        case .getPromise:
            let message = try frame.decode(PBGetPromiseCommandMessage.self)
            (name, completionID) = (message.key, message.resultCompletionID)
        case .peekPromise:
            let message = try frame.decode(PBPeekPromiseCommandMessage.self)
            (name, completionID) = (message.key, message.resultCompletionID)
        default:
            let message = try frame.decode(PBCompletePromiseCommandMessage.self)
            (name, completionID) = (message.key, message.resultCompletionID)
            switch message.completion {
            case .completionFailure(let failure): completion = .failure(Failure(failure))
            case .completionValue(let value): completion = .success(value.content)
            case nil: completion = .success(Data())
            }
        }
        let key = PromiseKey(object: object, name: name)
        append(command, to: id)
        let current: InvocationResult?
        do {
            current = try await promiseResult(key)
        } catch {
            return .failed("storage: \(StoreError(wrapping: error).message)", nextRetryDelay: nil)
        }
        var notices: [JournalEntry] = []
        switch type {
        case .getPromise:
            if let current {
                notices.append(
                    Notifications.entry(
                        MessageType.getPromiseCompletion.rawValue,
                        completionID: completionID,
                        result: current
                    )
                )
            } else {
                let subscription = Subscription(
                    topic: .promise(object, name: name),
                    subscriber: id,
                    completionID: completionID,
                    notificationType: MessageType.getPromiseCompletion.rawValue
                )
                subscribers[subscription.topic, default: []].append(subscription)
                writer.enqueue([.subscribe(subscription)], for: id)
            }
        case .peekPromise:
            notices.append(
                current.map {
                    Notifications.entry(
                        MessageType.peekPromiseCompletion.rawValue,
                        completionID: completionID,
                        result: $0
                    )
                }
                    ?? Notifications.void(.peekPromiseCompletion, completionID: completionID)
            )
        default:
            if current != nil {
                notices.append(
                    Notifications.failure(
                        .completePromiseCompletion,
                        completionID: completionID,
                        Failure(code: 409, message: "promise '\(name)' of \(object) was already completed")
                    )
                )
            } else if let completion {
                return await completePromise(key, with: completion, by: id, completionID: completionID)
            }
        }
        for entry in notices { writer.enqueue([.appendJournal(id, index: 0, entry: entry)], for: id) }
        return await streamOwnNotifications(notices, to: id)
    }

    /// Stores the promise's result, answers every invocation waiting for it, and confirms to the completer.
    private func completePromise(
        _ key: PromiseKey,
        with result: InvocationResult,
        by id: InvocationID,
        completionID: UInt32
    ) async -> FrameVerdict {
        promises[key] = result
        let topic = SubscriptionTopic.promise(key.object, name: key.name)
        let waiting = subscribers.removeValue(forKey: topic) ?? []
        let (noticeOperations, notices) = noticeOperations(
            waiting.map {
                ($0.subscriber, Notifications.entry($0.notificationType, completionID: $0.completionID, result: result))
            }
        )
        var operations: [StoreOperation] = [.completePromise(key.object, name: key.name, result: result)]
        operations += noticeOperations
        if !waiting.isEmpty { operations.append(.deleteSubscriptions(topic)) }
        let confirmation = Notifications.void(.completePromiseCompletion, completionID: completionID)
        operations.append(.appendJournal(id, index: 0, entry: confirmation))
        // The confirmation is the batch's last append; the waiters' notifications come right before it.
        guard let lastIndex = writer.enqueue(operations, for: [id] + waiting.map(\.subscriber)) else {
            promises[key] = nil
            subscribers[topic, default: []] += waiting
            return .failed("an earlier write of \(id) failed", nextRetryDelay: nil)
        }
        let verdict = await streamOwnNotifications([confirmation], to: id)
        if case .proceed = verdict { announce(notices, lastIndex: lastIndex - 1) }
        forgetPromiseIfIdle(key)
        return verdict
    }

    /// The promise's result: from memory when completed in this process, else from the store.
    func promiseResult(_ key: PromiseKey) async throws -> InvocationResult? {
        if let known = promises[key] { return known }
        promiseReads[key, default: 0] += 1
        defer {
            promiseReads[key, default: 1] -= 1
            if promiseReads[key] == 0 { promiseReads[key] = nil }
        }
        let stored = try await store.promise(key.object, name: key.name)
        // A completion while the read ran may not be in the read's snapshot: memory has it then.
        return promises[key] ?? stored
    }

    /// Drops a completed promise from memory once it is durable and no read could miss it.
    private func forgetPromiseIfIdle(_ key: PromiseKey) {
        if promiseReads[key] == nil { promises[key] = nil }
    }
}
