import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// Notifications that reach an invocation from outside its attempt: timers, results of calls, signals,
/// promises. They are stored first; only then does the partition stream them to the live attempt or resume
/// the suspended invocation.
extension PartitionProcessor {
    /// Takes a notification that is durable in `id`'s journal at `index`: caches it, and streams it to the
    /// live attempt or resumes the invocation when it was suspended waiting for it.
    func delivered(_ entry: JournalEntry, index: Int64, to id: InvocationID) {
        guard let invocation = active[id] else { return }
        if invocation.journal != nil {
            // A journal loaded after this entry was stored holds it already.
            guard index > invocation.loadedThrough else { return }
            active[id]?.journal?.append(entry)
        } else {
            active[id]?.arrivals.append((index, entry))
        }
        journalGrew(id)
        switch lifecycle.status(of: id) {
        case .suspended:
            perform(lifecycle.notificationStored(id, address: NotificationAddress(entry)))
        case .invoked:
            if invocation.journal != nil, let attempt = invocation.attempt {
                attempt.input.yield(Frame(type: entry.type, payload: entry.payload))
                active[id]?.attempt?.lastActivity = clock.now()
            }
        default:
            break
        }
    }

    /// Appends a notification to one of this partition's unfinished invocations, together with `operations`
    /// (which may belong to other invocations: `owners`), and delivers it once durable. Returns false when
    /// the invocation does not take notifications (completed, unknown, waiting in an inbox or scheduled); the
    /// operations are stored all the same.
    @discardableResult
    func deliver(
        _ entry: JournalEntry,
        to id: InvocationID,
        with operations: [StoreOperation] = [],
        owners: [InvocationID] = []
    ) async -> Bool {
        guard lifecycle.takesNotifications(id) else {
            if !operations.isEmpty {
                writer.enqueue(operations, for: owners)
                try? await writer.commit([], for: nil)
            }
            return false
        }
        guard let index = writer.enqueue(operations + [.appendJournal(id, index: 0, entry: entry)], for: owners + [id])
        else {
            return false
        }
        do {
            try await writer.commit([], for: id)
        } catch {
            return false
        }
        delivered(entry, index: index, to: id)
        return true
    }

    /// Wakes a suspended or paused invocation: a new attempt replays its journal.
    func resume(_ id: InvocationID) {
        perform(lifecycle.resume(id))
    }

    // MARK: - Recovery of waits

    /// Takes back the subscriptions to topics this partition owns. One whose topic completed already (it
    /// should not happen; the completion drops its subscriptions in the same transaction) is answered by a
    /// job: recovery runs before the group-commit writer, so it must not wait for a commit.
    func restoreSubscriptions(_ restored: [Subscription]) async {
        for subscription in restored {
            switch subscription.topic {
            case .invocation(let callee) where active[callee] != nil:
                subscribers[subscription.topic, default: []].append(subscription)
            case .invocation(let callee):
                let result: InvocationResult
                do {
                    result =
                        try await store.invocation(callee)?.result
                        ?? .failure(Failure(code: 404, message: "invocation \(callee) not found"))
                } catch {
                    logger.error(
                        "could not read a called invocation's result during recovery",
                        metadata: ["invocation": "\(callee)", "error": "\(error)"]
                    )
                    continue
                }
                spawn { [weak self] in await self?.answer(subscription, with: result) }
            case .promise(let object, let name):
                let key = PromiseKey(object: object, name: name)
                if let result = try? await promiseResult(key) {
                    spawn { [weak self] in await self?.answer(subscription, with: result) }
                } else {
                    subscribers[subscription.topic, default: []].append(subscription)
                }
            }
        }
    }

    /// Appends a subscription's notification to its subscriber and drops the subscription.
    func answer(_ subscription: Subscription, with result: InvocationResult) async {
        let entry = Notifications.entry(
            subscription.notificationType,
            completionID: subscription.completionID,
            result: result
        )
        let (operations, local) = noticeOperations([(subscription.subscriber, entry)])
        guard
            let lastIndex = writer.enqueue(
                operations + [.deleteSubscriptions(subscription.topic)],
                for: [subscription.subscriber]
            )
        else { return }
        do {
            try await writer.commit([], for: nil)
        } catch {
            return
        }
        announce(local, lastIndex: lastIndex)
    }
}
