import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// Completion: storing the result, passing the object's lock on, answering waiters and subscribers.
extension PartitionProcessor {
    /// Stores the result, releases the object's lock to the next in its inbox, and answers the waiters.
    /// Returns why the completion was not stored, nil once it is. `leavingState`: the object's state as the
    /// completing exclusive handler left it, kept for the next exclusive invocation once durable.
    @discardableResult
    func complete(
        _ id: InvocationID,
        with result: InvocationResult,
        leavingState: ObjectStateCache.State? = nil
    ) async -> StoreError? {
        guard let invocation = active[id], lifecycle.beginCompletion(id) else {
            return StoreError(.constraint, "invocation \(id) is completing already")
        }
        let retention = settings(of: invocation).completionRetention.saturatingMilliseconds
        invocation.completingWith = result
        let now = clock.now()
        var batch: [StoreOperation] = [
            .completeInvocation(id, result: result, completedAt: now, expiresAt: now.saturatingAdding(retention))
        ]
        let next = lifecycle.nextInLine(afterCompleting: id)
        if let next, let nextRecord = active[next]?.record {
            batch.append(
                .updateStatus(
                    next,
                    status: .invoked,
                    retryCount: nextRecord.retryCount,
                    lastFailure: nextRecord.lastFailure,
                    modifiedAt: now
                )
            )
        }
        // Callers and attachers learn the result in the same transaction that stores it.
        let topic = SubscriptionTopic.invocation(id)
        let (noticeOperations, notices) = noticeOperations(
            (subscribers[topic] ?? []).map {
                ($0.subscriber, Notifications.entry($0.notificationType, completionID: $0.completionID, result: result))
            }
        )
        if !noticeOperations.isEmpty {
            batch += noticeOperations
            batch.append(.deleteSubscriptions(topic))
        }
        if let freeSlot = flowEndedMessage(invocation) { batch.append(freeSlot) }
        var alert: EventRecord?
        if case .failure(let failure) = result {
            alert = failureAlert(for: invocation, failure: failure, paused: false)
            if let alert { batch.append(.insertEvent(alert)) }
        }
        let lastIndex = writer.enqueue(batch, for: id)
        do {
            guard lastIndex != nil else { throw StoreError(.io, "the writer refused the completion") }
            try await writer.commit([], for: id)
        } catch {
            active[id]?.completingWith = nil
            lifecycle.completionFailed(id)
            logger.error(
                "could not store an invocation's completion; it is retried",
                metadata: ["invocation": "\(id)", "error": "\(error)"]
            )
            return StoreError(wrapping: error)
        }
        metrics.invocationCompleted(result)
        subscribers[topic] = nil
        active[id]?.attempt?.trace?.end()
        active[id]?.attempt?.input.finish()
        active[id] = nil
        if let leavingState, let stateObject = invocation.record.target.object {
            stateCache.put(leavingState, for: stateObject)
        }
        releaseFlow(id)
        perform(lifecycle.finished(id, storedWithCompletion: next))
        resolveWaiters(id, with: result)
        if let alert { deliverAlert(alert) }
        if let lastIndex { announce(notices, lastIndex: lastIndex) }
        if let tracing { await traceCompletion(invocation, result: result, tracing: tracing) }
        return nil
    }

    /// Reports the completed invocation's span, under the trace context stored with its input.
    private func traceCompletion(
        _ invocation: ActiveInvocation,
        result: InvocationResult,
        tracing: InvocationTracing
    )
        async
    {
        var parent = invocation.traceContext
        if parent == nil {
            var input = invocation.journal?.first
            if input == nil { input = try? await store.storedJournal(of: invocation.record.id).entries.first }
            parent = tracing.context(ofInput: input)
        }
        tracing.completed(
            invocation.record.id,
            target: invocation.record.target,
            createdAt: invocation.record.createdAt,
            result: result,
            parent: parent ?? .topLevel
        )
    }

    /// Hands journal entries that are durable now (the last `notices.count` appends of a batch whose last
    /// index is `lastIndex`) to the partitions of their invocations.
    func announce(_ notices: [(InvocationID, JournalEntry)], lastIndex: Int64) {
        guard !notices.isEmpty else { return }
        let router = self.router
        var deliveries: [(InvocationID, JournalEntry, Int64)] = []
        for (offset, notice) in notices.enumerated() {
            deliveries.append((notice.0, notice.1, lastIndex - Int64(notices.count - 1 - offset)))
        }
        for (target, entry, index) in deliveries where router.partition(for: target) === self {
            delivered(entry, index: index, to: target)
        }
        let remote = deliveries.filter { router.partition(for: $0.0) !== self }
        guard !remote.isEmpty else { return }
        spawn {
            for (target, entry, index) in remote {
                await router.partition(for: target)?.delivered(entry, index: index, to: target)
            }
        }
    }

    /// The invocation's handler settings, resolved once from its deployment's manifest.
    func settings(of invocation: ActiveInvocation) -> HandlerSettings {
        if let settings = invocation.settings { return settings }
        let settings = registry.settings(for: InvocationRecordSummary(invocation.record), defaults: configuration)
        invocation.settings = settings
        return settings
    }
}
