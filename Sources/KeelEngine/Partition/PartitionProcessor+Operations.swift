import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// What operators and clients do to invocations from outside: cancel, kill, purge, resume, and completing
/// awakeables.
/// How a cancellation went.
public enum CancelOutcome: Sendable, Hashable {
    /// The CANCEL signal was appended; the handler sees it at its next await (Restate answers 202).
    case signalled
    /// It had not started (inboxed or scheduled) and is completed as cancelled (200).
    case cancelled
}

extension PartitionProcessor {
    /// Cancels cooperatively: a running, suspended or paused invocation gets the CANCEL signal; one that has
    /// not started completes at once with 409. `operations` (the sender's command) are stored alongside.
    func cancel(
        _ id: InvocationID,
        with operations: [StoreOperation] = [],
        owners: [InvocationID] = []
    ) async throws -> CancelOutcome {
        guard let status = lifecycle.status(of: id), lifecycle[id]?.isCompleting == false else {
            if !operations.isEmpty { writer.enqueue(operations, for: owners) }
            throw try await finishedOrUnknown(id, verb: "cancel")
        }
        switch status {
        case .inboxed, .scheduled:
            if !operations.isEmpty { writer.enqueue(operations, for: owners) }
            if let failure = await complete(id, with: .failure(Failure(code: 409, message: "canceled"))) {
                throw EngineError(
                    .unavailable,
                    "storing the cancellation of \(id) failed (\(failure.message)); try again"
                )
            }
            return .cancelled
        default:
            let wasPaused = status == .paused
            guard await deliver(Notifications.signal(index: 1, result: nil), to: id, with: operations, owners: owners)
            else {
                throw EngineError(.unavailable, "storing the cancellation of \(id) failed; try again")
            }
            if wasPaused { resume(id) }
            return .signalled
        }
    }

    /// Ends the invocation at once with 409 "killed", without its handler's cooperation, and kills the
    /// invocations it called or sent to, recursively.
    func kill(_ id: InvocationID) async throws {
        guard active[id] != nil, lifecycle[id]?.isCompleting == false else {
            throw try await finishedOrUnknown(id, verb: "kill")
        }
        var journal = active[id]?.journal
        if journal == nil {
            journal = (try? await store.journal(of: id)) ?? []
        }
        let children = (journal ?? []).compactMap { entry -> InvocationID? in
            guard entry.type == MessageType.callInvocationIdCompletion.rawValue,
                let template = try? PBNotificationTemplate(serializedBytes: entry.payload),
                case .invocationID(let text)? = template.result
            else { return nil }
            return InvocationID(text)
        }
        if let failure = await complete(id, with: .failure(Failure(code: 409, message: "killed"))) {
            throw EngineError(.unavailable, "storing the kill of \(id) failed (\(failure.message)); try again")
        }
        let router = self.router
        var remote: [StoreOperation] = []
        for child in children {
            if case .remote(let index) = router.route(child),
                let message = outboxMessage(.kill(target: child.description), partition: index)
            {
                remote.append(message)
            }
        }
        if !remote.isEmpty { try? await writer.commit(remote, for: nil) }
        spawn {
            for child in children {
                try? await router.partition(for: child)?.kill(child)
            }
        }
    }

    /// Parks a running or suspended invocation until it is resumed or killed. A running attempt is abandoned:
    /// its frames are no longer taken, so nothing it does after this is stored (an embedded handler that never
    /// yields keeps its thread, but the store says paused and the next start does not run it).
    func pauseByOperator(_ id: InvocationID) async throws {
        switch lifecycle.pauseByOperator(id) {
        case .unknown:
            throw try await finishedOrUnknown(id, verb: "pause")
        case .alreadyPaused:
            return
        case .notStarted(let status):
            throw EngineError(
                .conflict,
                "invocation \(id) is \(status.rawValue) and has not started; cancel or kill it instead"
            )
        case .paused(let actions):
            perform(actions)
        }
        do {
            try await writer.commit([], for: id)
        } catch {
            throw EngineError.storage(error)
        }
    }

    /// Forgets a completed invocation: its output can no longer be attached to, and its idempotency key or
    /// workflow key can be used again.
    func purge(_ id: InvocationID) async throws {
        if let status = lifecycle.status(of: id) {
            throw EngineError(
                .conflict,
                "invocation \(id) is \(status.rawValue), not completed; cancel or kill it before purging"
            )
        }
        let stored: InvocationRecord?
        do {
            stored = try await store.invocation(id)
        } catch {
            throw EngineError.storage(error)
        }
        guard stored != nil else { throw EngineError(.notFound, "invocation \(id) not found") }
        do {
            try await writer.commit([.deleteInvocation(id)], for: nil)
        } catch {
            throw EngineError.storage(error)
        }
    }

    /// Resumes a paused invocation with a fresh retry budget, optionally on another deployment.
    func resumePaused(_ id: InvocationID, deploymentID: String?) async throws {
        guard let status = lifecycle.status(of: id) else { throw try await finishedOrUnknown(id, verb: "resume") }
        guard status == .paused else {
            throw EngineError(
                .conflict,
                "invocation \(id) is \(status.rawValue), not paused; only paused invocations can be resumed"
            )
        }
        if let deploymentID {
            guard registry.transport(for: deploymentID) != nil else {
                throw EngineError(.notFound, "deployment '\(deploymentID)' not found")
            }
            active[id]?.record.deploymentID = deploymentID
            active[id]?.settings = nil
            writer.enqueue([.updateDeployment(id, deploymentID: deploymentID)], for: id)
        }
        perform(lifecycle.resume(id, freshBudget: true))
    }

    /// Completes an awakeable from outside (the ingress): appends its signal to the waiting invocation.
    func completeAwakeable(
        _ awakeable: AwakeableID,
        invocation id: InvocationID,
        with result: InvocationResult
    ) async throws {
        guard let status = lifecycle.status(of: id), [.invoked, .suspended, .paused].contains(status) else {
            throw EngineError(
                .notFound,
                "awakeable \(awakeable) not found: invocation \(id) is not running (it completed, was never started, or the id is wrong)"
            )
        }
        let journal: [JournalEntry]
        if let cached = active[id]?.journal {
            journal = cached
        } else {
            do {
                journal = try await store.journal(of: id) + (active[id]?.arrivals.map(\.entry) ?? [])
            } catch {
                throw EngineError.storage(error)
            }
        }
        switch InputRules.awakeableRefusal(index: awakeable.signalIndex, journalEntries: journal.count) {
        case .reserved:
            throw EngineError(
                .badRequest,
                "'\(awakeable)' is not an awakeable id: signal \(awakeable.signalIndex) is reserved for the runtime (awakeables start at \(InputRules.firstAwakeableSignal))"
            )
        case .notCreated:
            throw EngineError(.notFound, "awakeable \(awakeable) not found: invocation \(id) has not created it")
        case nil:
            break
        }
        if journal.contains(where: { NotificationAddress($0) == .signal(awakeable.signalIndex) }) {
            throw EngineError(.conflict, "awakeable \(awakeable) was already completed")
        }
        guard await deliver(Notifications.signal(index: awakeable.signalIndex, result: result), to: id) else {
            throw EngineError(.unavailable, "storing the completion of awakeable \(awakeable) failed; try again")
        }
    }

    /// The error for an operation on an invocation that is not unfinished here: 409 when it completed,
    /// 404 when unknown.
    private func finishedOrUnknown(_ id: InvocationID, verb: String) async throws -> EngineError {
        let stored: InvocationRecord?
        do {
            stored = try await store.invocation(id)
        } catch {
            return EngineError.storage(error)
        }
        if stored != nil {
            return EngineError(.conflict, "cannot \(verb) invocation \(id): it completed already")
        }
        return EngineError(.notFound, "invocation \(id) not found")
    }
}
