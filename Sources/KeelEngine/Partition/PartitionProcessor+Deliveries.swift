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
        switch invocation.record.status {
        case .suspended:
            let address = NotificationAddress(entry)
            if let waiting = invocation.waitingFor, !(address.map(waiting.contains) ?? false) { return }
            resume(id)
        case .invoked:
            if invocation.journal != nil, let attempt = invocation.attempt {
                attempt.input.yield(Frame(type: entry.type, payload: entry.payload))
                active[id]?.attempt?.lastActivity = EngineClock.nowMilliseconds()
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
    func deliver(_ entry: JournalEntry, to id: InvocationID, with operations: [StoreOperation] = [], owners: [InvocationID] = []) async -> Bool {
        guard let status = active[id]?.record.status, [.invoked, .suspended, .paused].contains(status),
              active[id]?.isCompleting == false
        else {
            if !operations.isEmpty {
                writer.enqueue(operations, for: owners)
                try? await writer.commit([], for: nil)
            }
            return false
        }
        guard let index = writer.enqueue(operations + [.appendJournal(id, index: 0, entry: entry)], for: owners + [id]) else {
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

    /// Wakes a suspended invocation: a new attempt replays its journal.
    func resume(_ id: InvocationID) {
        guard let invocation = active[id], invocation.record.status == .suspended || invocation.record.status == .paused else { return }
        invocation.record.status = .invoked
        invocation.waitingFor = nil
        let record = invocation.record
        writer.enqueue([.updateStatus(id, status: .invoked, retryCount: record.retryCount, lastFailure: record.lastFailure, modifiedAt: EngineClock.nowMilliseconds())], for: id)
        startAttempt(id)
    }

    // MARK: - Timers

    /// Starts the partition's inactivity sweeper (once): an attempt idle for the inactivity timeout gets its
    /// request stream closed, so the SDK suspends (or finishes what it is doing and suspends) and the
    /// connection is freed while the invocation waits.
    func startInactivitySweeper() {
        guard !isSweeping else { return }
        isSweeping = true
        let timeout = max(configuration.inactivityTimeout.saturatingMilliseconds, 1)
        let interval = min(max(timeout / 4, 10), 1_000)
        spawn { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(interval))
                guard !Task.isCancelled, let self else { return }
                await self.closeIdleAttempts(olderThan: timeout)
            }
        }
    }

    private func closeIdleAttempts(olderThan timeout: Int64) {
        let now = EngineClock.nowMilliseconds()
        let abortAfter = max(configuration.abortTimeout.saturatingMilliseconds, 1)
        for (id, invocation) in active {
            guard let attempt = invocation.attempt else { continue }
            if let closedAt = attempt.inputClosedAt {
                // Asked to suspend and still not ended: the endpoint is stuck (or ignores the end of its input).
                guard !attempt.isAborted, now - closedAt >= abortAfter else { continue }
                active[id]?.attempt?.isAborted = true
                let message = "the attempt did not end within the abort timeout (\(configuration.abortTimeout)) after the inactivity timeout closed its input; it is aborted and retried"
                attempt.output.yield(.error(code: 504, message: message))
                attempt.output.finish()
                logger.warning("aborting a stuck attempt", metadata: ["invocation": "\(id)", "target": "\(invocation.record.target)"])
            } else if now - attempt.lastActivity >= timeout {
                attempt.input.finish()
                active[id]?.attempt?.inputClosedAt = now
            }
        }
    }

    /// Arms a stored timer; it fires once, at or after its due time (at once when that has passed).
    func armTimer(_ timer: TimerRecord) {
        let key = TimerKey(invocation: timer.invocationID, completionID: timer.completionID)
        guard pendingTimers.insert(key).inserted else { return }
        let delay = max(0, timer.dueAt - EngineClock.nowMilliseconds())
        spawn { [weak self] in
            if delay > 0 { try? await Task.sleep(for: .milliseconds(delay)) }
            guard !Task.isCancelled else { return }
            await self?.fireTimer(key)
        }
    }

    private func fireTimer(_ key: TimerKey) async {
        guard pendingTimers.remove(key) != nil else { return }
        let entry = Notifications.void(.sleepCompletion, completionID: key.completionID)
        await deliver(entry, to: key.invocation, with: [.deleteTimer(key.invocation, completionID: key.completionID)])
    }

    /// Arms the start of a scheduled (delayed) invocation.
    func armScheduled(_ id: InvocationID, at executeAt: Int64) {
        let delay = max(0, executeAt - EngineClock.nowMilliseconds())
        spawn { [weak self] in
            if delay > 0 { try? await Task.sleep(for: .milliseconds(delay)) }
            guard !Task.isCancelled else { return }
            await self?.wakeScheduled(id)
        }
    }

    /// A scheduled invocation is due: it runs now, or waits in its object's inbox.
    private func wakeScheduled(_ id: InvocationID) {
        guard let invocation = active[id], invocation.record.status == .scheduled else { return }
        invocation.record.status = .invoked
        if let object = invocation.lockedObject {
            if locks[object] == nil {
                locks[object] = id
            } else {
                invocation.record.status = .inboxed
                inboxes[object, default: []].append(id)
            }
        }
        let record = invocation.record
        writer.enqueue([.updateStatus(id, status: record.status, retryCount: record.retryCount, lastFailure: record.lastFailure, modifiedAt: EngineClock.nowMilliseconds())], for: id)
        if record.status == .invoked { startAttempt(id) }
    }

    // MARK: - Recovery of waits

    /// Re-arms the stored timers of this partition's invocations; timers of finished ones are dropped.
    func restoreTimers(_ timers: [TimerRecord]) {
        var stale: [StoreOperation] = []
        for timer in timers {
            if active[timer.invocationID] != nil {
                armTimer(timer)
            } else {
                stale.append(.deleteTimer(timer.invocationID, completionID: timer.completionID))
            }
        }
        if !stale.isEmpty { writer.enqueue(stale, for: []) }
    }

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
                    result = try await store.invocation(callee)?.result
                        ?? .failure(Failure(code: 404, message: "invocation \(callee) not found"))
                } catch {
                    logger.error("could not read a called invocation's result during recovery", metadata: ["invocation": "\(callee)", "error": "\(error)"])
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
        let entry = Notifications.entry(subscription.notificationType, completionID: subscription.completionID, result: result)
        guard let lastIndex = writer.enqueue(
            [.appendJournal(subscription.subscriber, index: 0, entry: entry), .deleteSubscriptions(subscription.topic)],
            for: [subscription.subscriber]
        ) else { return }
        do {
            try await writer.commit([], for: nil)
        } catch {
            return
        }
        announce([(subscription.subscriber, entry)], lastIndex: lastIndex)
    }
}
