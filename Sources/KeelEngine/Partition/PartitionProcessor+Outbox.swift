import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// Effects that cross to a partition another node owns (a cluster whose partitions are spread): the sender
/// stores them in the outbox with its own change, and the owner applies them (`receive`), deleting each in the
/// transaction that applies it.
extension PartitionProcessor {
    /// The outbox message for `message`'s subject's partition; nil (and logged) if it cannot be encoded.
    func outboxMessage(_ message: PartitionMessage, partition: Int) -> StoreOperation? {
        do {
            return .insertOutbox(partition: partition, payload: try message.encoded())
        } catch {
            logger.error("could not encode a message for another partition", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// The operations that hand `notices` to their invocations: outbox messages for those on other nodes'
    /// partitions, then journal appends for this node's (which the caller announces once durable: they are the
    /// last appends of the returned operations, in order).
    func noticeOperations(
        _ notices: [(InvocationID, JournalEntry)]
    ) -> (operations: [StoreOperation], local: [(InvocationID, JournalEntry)]) {
        var remote: [StoreOperation] = []
        var local: [(InvocationID, JournalEntry)] = []
        for (target, entry) in notices {
            if case .remote(let partition) = router.route(target) {
                if let message = outboxMessage(
                    .append(target: target.description, entry: .init(entry)),
                    partition: partition
                ) {
                    remote.append(message)
                }
            } else {
                local.append((target, entry))
            }
        }
        return (remote + local.map { .appendJournal($0.0, index: 0, entry: $0.1) }, local)
    }

    /// What runs once a received message's changes are durable (delivering a notification to a live attempt).
    typealias AfterCommit = @Sendable () async -> Void

    /// Applies an outbox message addressed to this partition: hands its changes, with the message's deletion,
    /// to the writer (in the order messages are received), and returns what to do once they are durable. A
    /// message that cannot be applied now (a storage failure, a rate limit) is left in the outbox: the next
    /// round tries it again.
    func receive(_ message: PartitionMessage, outboxID: Int64) async -> AfterCommit? {
        let done = StoreOperation.deleteOutbox(outboxID)
        switch message {
        case .start(let start):
            return await receiveStart(start, outboxID: outboxID)
        case .append(let target, let entry):
            guard let id = InvocationID(target) else { return discard(outboxID, malformed: true) }
            return append(entry.journalEntry, to: id, done: done)
        case .signal(let target, let entry):
            guard let id = InvocationID(target) else { return discard(outboxID, malformed: true) }
            // As `deliver`: a signal reaches only an invocation that takes notifications.
            guard lifecycle.takesNotifications(id) else { return discard(outboxID) }
            return append(entry.journalEntry, to: id, done: done)
        case .cancel(let target):
            guard let id = InvocationID(target) else { return discard(outboxID, malformed: true) }
            _ = try? await cancel(id, with: [done], owners: [])
            return nil
        case .kill(let target):
            guard let id = InvocationID(target) else { return discard(outboxID, malformed: true) }
            // Killing is not one transaction with the message's deletion; killing twice finds it completed.
            try? await kill(id)
            return discard(outboxID)
        case .flowArrive(let arrival):
            return receiveArrival(arrival, outboxID: outboxID)
        case .flowEnded(let target):
            guard let id = InvocationID(target) else { return discard(outboxID, malformed: true) }
            return receiveEnded(id, done: done)
        case .flowGrant(let target, let keeper):
            guard let id = InvocationID(target) else { return discard(outboxID, malformed: true) }
            writer.enqueue(receiveGrant(id, keeper: keeper) + [done], for: [])
            return nil
        case .flowFail(let target, let reason):
            guard let id = InvocationID(target) else { return discard(outboxID, malformed: true) }
            await receiveFlowFailure(id, reason: reason)
            return discard(outboxID)
        case .observe(let target, let caller, let completionID, let notificationType, let subscribe):
            guard let targetID = InvocationID(target), let callerID = InvocationID(caller) else {
                return discard(outboxID, malformed: true)
            }
            let subscription =
                subscribe
                ? Subscription(
                    topic: .invocation(targetID),
                    subscriber: callerID,
                    completionID: completionID,
                    notificationType: notificationType
                )
                : nil
            let answer: @Sendable (InvocationResult?) -> [StoreOperation] = { [self] result in
                let entry =
                    result.map { Notifications.entry(notificationType, completionID: completionID, result: $0) }
                    ?? Notifications.void(
                        MessageType(rawValue: notificationType) ?? .getInvocationOutputCompletion,
                        completionID: completionID
                    )
                return reply(entry, to: callerID)
            }
            _ = await observe(
                targetID,
                subscription: subscription,
                callerOperations: [done],
                caller: callerID,
                answer: answer
            )
            return nil
        }
    }

    /// Appends `entry` to `id`'s journal with the message's deletion (`done`); delivers it once durable.
    private func append(_ entry: JournalEntry, to id: InvocationID, done: StoreOperation) -> AfterCommit? {
        guard let index = writer.enqueue([.appendJournal(id, index: 0, entry: entry), done], for: [id]) else {
            return nil
        }
        return { [weak self] in await self?.delivered(entry, index: index, to: id) }
    }

    /// A notification for `target`, a caller that sent a message here: an outbox message to its partition,
    /// even when this node runs that partition too (it took it over since): applying the message delivers the
    /// notification to the live invocation, which a bare journal append here would not.
    nonisolated func reply(_ entry: JournalEntry, to target: InvocationID) -> [StoreOperation] {
        let partition = PartitionRouter.index(of: target, count: max(1, router.partitions.count))
        guard let payload = try? PartitionMessage.append(target: target.description, entry: .init(entry)).encoded()
        else { return [] }
        return [.insertOutbox(partition: partition, payload: payload)]
    }

    private func receiveStart(_ start: PartitionMessage.Start, outboxID: Int64) async -> AfterCommit? {
        guard let id = InvocationID(start.id) else { return discard(outboxID, malformed: true) }
        let caller = start.caller.flatMap(InvocationID.init)
        let subscription: Subscription? =
            if let caller, let completionID = start.resultCompletionID, let type = start.resultNotificationType {
                Subscription(
                    topic: .invocation(id),
                    subscriber: caller,
                    completionID: completionID,
                    notificationType: type
                )
            } else {
                nil
            }
        var answer: (@Sendable (InvocationResult) -> [StoreOperation])?
        if let subscription {
            answer = { [self] result in
                reply(
                    Notifications.entry(
                        subscription.notificationType,
                        completionID: subscription.completionID,
                        result: result
                    ),
                    to: subscription.subscriber
                )
            }
        }
        let request = ChildRequest(
            invocation: NewInvocation(
                id: id,
                resolved: ServiceRegistry.Resolved(
                    target: start.target,
                    handlerKind: start.handlerKind,
                    deploymentID: start.deploymentID
                ),
                input: start.input.journalEntry,
                idempotencyKey: start.idempotencyKey
            ),
            executeAt: start.executeAt,
            caller: caller,
            callerOperations: [.deleteOutbox(outboxID)],
            subscription: subscription,
            isDeterministic: start.isDeterministic,
            answer: answer
        )
        if case .failed(let reason) = await acceptChild(request) {
            logger.debug(
                "an invocation sent from another partition is not accepted yet; it is tried again",
                metadata: ["invocation": "\(id)", "reason": "\(reason)"]
            )
        }
        return nil
    }

    /// Deletes a message that has nothing left to do: one this build cannot read (it would be read again at
    /// every round), or whose effect does not apply (a killed invocation gone, a signal for one that takes
    /// none).
    @discardableResult
    func discard(_ outboxID: Int64, malformed: Bool = false) -> AfterCommit? {
        if malformed { logger.error("dropped a malformed outbox message", metadata: ["outbox": "\(outboxID)"]) }
        writer.enqueue([.deleteOutbox(outboxID)], for: [])
        return nil
    }
}
