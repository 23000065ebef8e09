import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import SwiftProtobuf

extension PartitionProcessor {
    /// Applies the SDK's frames in order, up to the first that finishes or fails the attempt.
    func handle(_ entries: [AttemptOutput.Entry], from id: InvocationID, generation: UInt64) async -> FrameVerdict {
        for entry in entries {
            let verdict = await handle(entry.frame, speculative: entry.isSpeculative, from: id, generation: generation)
            guard case .proceed = verdict else { return verdict }
        }
        // Results the handler went on with and nothing made the writer write yet are written within its lazy
        // delay, with company if any comes.
        if let invocation = active[id], invocation.attempt?.generation == generation,
            invocation.attempt?.speculation.armsLazyDeadlineAtEndOfBatch() == true
        {
            writer.commit([], for: id, lazy: true) { _ in }
        }
        return .proceed
    }

    /// Applies one frame the SDK sent during an attempt: stores commands, answers run proposals once durable,
    /// and completes, parks or fails the invocation on the attempt's terminal frame. `speculative`: the SDK
    /// says the handler went on with this proposal's result already (see `StepSpeculation`).
    func handle(_ frame: Frame, speculative: Bool, from id: InvocationID, generation: UInt64) async -> FrameVerdict {
        let now = clock.now()
        guard let invocation = active[id], lifecycle.isCurrent(id, generation: generation),
            invocation.attempt?.generation == generation
        else { return .finished }
        invocation.attempt?.lastActivity = now
        guard let type = frame.messageType else {
            if MessageType.isCustomEntry(frame.type) {
                append(JournalEntry(type: frame.type, payload: frame.payload), to: id)
                return .proceed
            }
            return .failed(
                "protocol violation: unknown message type 0x\(String(frame.type, radix: 16))",
                nextRetryDelay: nil
            )
        }
        switch invocation.attempt?.speculation.action(before: type) ?? .proceed {
        case .proceed:
            break
        case .startWrite:
            // A failure reaches the attempt through the step result's own write.
            writer.commit([], for: id) { _ in }
        case .awaitDurable:
            do {
                try await writer.commit([], for: id)
            } catch {
                return .failed("storage: \(StoreError(wrapping: error).message)", nextRetryDelay: nil)
            }
            guard lifecycle.isCurrent(id, generation: generation), active[id]?.attempt?.generation == generation
            else { return .finished }
        }
        do {
            switch type {
            case .end:
                return await end(id)
            case .suspension:
                return suspend(id, frame, generation: generation)
            case .error:
                let message = try frame.decode(PBErrorMessage.self)
                if let deployment = invocation.attempt?.remoteDeployment, !isShuttingDown,
                    EngineMetrics.isEndpointFault(code: message.code)
                {
                    metrics.endpointError(deployment: deployment)
                }
                return .failed(
                    describe(message),
                    nextRetryDelay: message.hasNextRetryDelay ? .milliseconds(message.nextRetryDelay) : nil
                )
            case .proposeRunCompletion:
                let proposal = try frame.decode(PBProposeRunCompletionMessage.self)
                if let started = invocation.attempt?.stepStartedAt {
                    invocation.attempt?.stepStartedAt = nil
                    metrics.stepProposed(nanoseconds: (ContinuousClock.now - started).saturatingNanoseconds)
                }
                // Read before `attempt` is modified: the journal is searched during that access.
                let replayed = invocation.attempt?.replayed
                let storage = invocation.attempt?.speculation.storage(
                    ofProposal: speculative,
                    cancelJournaledDuringAttempt: Self.cancelJournaled(in: invocation.journal, since: replayed)
                )
                switch storage ?? .now {
                case .now:
                    return completeRun(id, proposal, lazily: false)
                case .lazily:
                    return completeRun(id, proposal, lazily: true)
                case .nowThenReplay:
                    // The handler went on without seeing that CANCEL, while a replay would raise it at this
                    // step's await: store the result, then replay so the handler meets the journal's order.
                    let verdict = completeRun(id, proposal, lazily: false)
                    guard case .proceed = verdict else { return verdict }
                    invocation.attempt?.input.finish()
                    invocation.attempt = nil
                    startAttempt(id)
                    return .finished
                }
            case .awaitingOn:
                return .proceed
            default:
                guard type.isCommand else {
                    return .failed(
                        "protocol violation: the SDK sent \(type), which only the runtime may send",
                        nextRetryDelay: nil
                    )
                }
                if type == .run { invocation.attempt?.stepStartedAt = .now }
                invocation.attempt?.trace?.command(type, index: invocation.journal?.count ?? 0)
                return try await command(type, frame, of: id)
            }
        } catch {
            return .failed("protocol violation: cannot decode \(type): \(error)", nextRetryDelay: nil)
        }
    }

    private func command(_ type: MessageType, _ frame: Frame, of id: InvocationID) async throws -> FrameVerdict {
        var effects: [StoreOperation] = []
        switch type {
        case .output:
            let message = try frame.decode(PBOutputCommandMessage.self)
            switch message.result {
            case .failure(let failure):
                active[id]?.output = .failure(Failure(failure))
            case .value(let value):
                active[id]?.output = .success(value.content)
            case nil:
                active[id]?.output = .success(Data())
            }
        case .run, .getEagerState, .getEagerStateKeys:
            break
        case .setState, .clearState, .clearAllState:
            guard let object = active[id]?.record.target.object, active[id]?.record.handlerKind?.takesLock == true
            else {
                return .failed(
                    "\(active[id]?.record.target.description ?? id.description) may not write state: only exclusive handlers of virtual objects and workflows can",
                    nextRetryDelay: nil
                )
            }
            let invocation = active[id]
            switch type {
            case .setState:
                let message = try frame.decode(PBSetStateCommandMessage.self)
                effects.append(.setState(object, name: message.key, value: message.value.content))
                invocation?.attemptState?[message.key] = message.value.content
            case .clearState:
                let name = try frame.decode(PBClearStateCommandMessage.self).key
                effects.append(.clearState(object, name: name))
                invocation?.attemptState?[name] = nil
            default:
                effects.append(.clearAllState(object))
                if invocation?.attemptState != nil { invocation?.attemptState = [:] }
            }
        case .getLazyState, .getLazyStateKeys:
            guard let object = active[id]?.record.target.object else {
                return .failed(
                    "\(active[id]?.record.target.description ?? id.description) has no state: only virtual objects and workflows do",
                    nextRetryDelay: nil
                )
            }
            append(JournalEntry(type: frame.type, payload: frame.payload), to: id)
            return await answerLazyState(type, frame, object: object, id: id)
        case .sleep:
            let message = try frame.decode(PBSleepCommandMessage.self)
            let timer = TimerRecord(
                invocationID: id,
                completionID: message.resultCompletionID,
                dueAt: Int64(clamping: message.wakeUpTime)
            )
            append(JournalEntry(type: frame.type, payload: frame.payload), to: id, effects: [.insertTimer(timer)])
            armTimer(timer)
            return .proceed
        case .call, .oneWayCall:
            return try await call(type, frame, of: id)
        case .sendSignal, .completeAwakeable:
            return try await signal(type, frame, of: id)
        case .getPromise, .peekPromise, .completePromise:
            return try await promiseCommand(type, frame, of: id)
        case .attachInvocation, .getInvocationOutput:
            return try await attachOrOutput(type, frame, of: id)
        default:
            return .failed("Keel does not support \(type) commands yet (error 573)", nextRetryDelay: nil)
        }
        append(JournalEntry(type: frame.type, payload: frame.payload), to: id, effects: effects)
        return .proceed
    }

    /// Adds an entry to the journal (memory and store) together with its effects. Nobody waits for it unless
    /// `then` is given: then the write starts at once and `then` runs on the commit thread once it is durable.
    func append(
        _ entry: JournalEntry,
        to id: InvocationID,
        effects: [StoreOperation] = [],
        lazily: Bool = false,
        then: (@Sendable (StoreError?) -> Void)? = nil
    ) {
        guard let invocation = active[id], invocation.journal != nil else {
            if let then { writer.commit([], for: id, then: then) }
            return
        }
        invocation.journal?.append(entry)
        var operations: [StoreOperation] = [.appendJournal(id, index: 0, entry: entry)]
        if !effects.isEmpty { operations += effects }
        if let then {
            writer.commit(operations, for: id, lazy: lazily, quiet: lazily, then: then)
        } else {
            writer.enqueue(operations, for: id)
        }
        journalGrew(id)
    }

    /// Restarts the retry counters the SDK sees (`retry_count_since_last_stored_entry`,
    /// `duration_since_last_stored_entry`): the journal just grew. A reset after failures is stored too, so a
    /// restart does not resurrect the old count.
    func journalGrew(_ id: InvocationID) {
        let now = clock.now()
        guard let invocation = active[id] else { return }
        invocation.lastStoredAt = now
        guard invocation.record.retryCount != 0 else { return }
        invocation.record.retryCount = 0
        let record = invocation.record
        writer.enqueue(
            [
                .updateStatus(
                    id,
                    status: lifecycle.status(of: id) ?? record.status,
                    retryCount: 0,
                    lastFailure: record.lastFailure,
                    modifiedAt: now
                )
            ],
            for: id
        )
    }

    /// Whether a CANCEL was journaled since the attempt started with `replayed` entries (the handler may not have
    /// seen it yet). Without the journal or the attempt, it may have been.
    private static func cancelJournaled(in journal: [JournalEntry]?, since replayed: Int?) -> Bool {
        guard let journal, let replayed else { return true }
        return journal[min(replayed, journal.count)...].contains {
            $0.type == MessageType.signal.rawValue && NotificationAddress($0) == .cancel
        }
    }

    /// Stores a run's result as its notification and, once durable, sends it back to the SDK. `lazily`: the
    /// handler went on with the result already, so it rides with the attempt's next commit (see
    /// `StepSpeculation`).
    private func completeRun(
        _ id: InvocationID,
        _ proposal: PBProposeRunCompletionMessage,
        lazily: Bool
    ) -> FrameVerdict {
        var notification = PBRunCompletionNotificationMessage()
        notification.completionID = proposal.resultCompletionID
        switch proposal.result {
        case .value(let value): notification.value = PBValue.with { $0.content = value }
        case .failure(let failure): notification.failure = failure
        case nil: notification.value = PBValue()
        }
        return appendNotification(.runCompletion, notification, to: id, lazily: lazily)
    }

    private func answerLazyState(
        _ type: MessageType,
        _ frame: Frame,
        object: ObjectAddress,
        id: InvocationID
    ) async -> FrameVerdict {
        do {
            // Reads must see this invocation's own earlier writes, which may still be in the writer.
            try await writer.commit([], for: id)
            let state = try await store.state(of: object)
            if type == .getLazyState {
                let command = try frame.decode(PBGetLazyStateCommandMessage.self)
                var notification = PBGetLazyStateCompletionNotificationMessage()
                notification.completionID = command.resultCompletionID
                if let entry = state.first(where: { $0.name == command.key }) {
                    notification.value = PBValue.with { $0.content = entry.value }
                } else {
                    notification.void = PBVoid()
                }
                return appendNotification(.getLazyStateCompletion, notification, to: id)
            }
            let command = try frame.decode(PBGetLazyStateKeysCommandMessage.self)
            var notification = PBGetLazyStateKeysCompletionNotificationMessage()
            notification.completionID = command.resultCompletionID
            notification.stateKeys = PBStateKeys.with { $0.keys = state.map(\.name) }
            return appendNotification(.getLazyStateKeysCompletion, notification, to: id)
        } catch {
            return .failed("reading state failed: \(error)", nextRetryDelay: nil)
        }
    }

    /// Journals a notification and streams it to the live attempt once durable.
    ///
    /// The commit thread hands the notification over as soon as its batch is durable, before it answers
    /// anybody else of that batch (so the SDK sees notifications in journal order); the relay does not wait
    /// for it, which saves a wake-up and a return to this actor per step. If the write fails, the attempt
    /// ends with the failure (an `Error` frame handed to its relay) and is retried from the store.
    private func appendNotification(
        _ type: MessageType,
        _ message: some SwiftProtobuf.Message,
        to id: InvocationID,
        lazily: Bool = false
    ) -> FrameVerdict {
        let frame: Frame
        do {
            frame = try Frame(type: type, message: message)
        } catch {
            return .failed("cannot encode \(type): \(error)", nextRetryDelay: nil)
        }
        guard let attempt = active[id]?.attempt else { return .finished }
        let (input, output) = (attempt.input, attempt.output)
        append(JournalEntry(type: frame.type, payload: frame.payload), to: id, lazily: lazily) { failure in
            guard let failure else {
                input.yield(frame)
                return
            }
            // Ends the attempt through its relay, like an Error from the SDK: it is retried from the store.
            output.yield(.error(code: 500, message: "storage: \(failure.message)"))
            output.finish()
        }
        return .proceed
    }

    private func end(_ id: InvocationID) async -> FrameVerdict {
        // A replay does not send a journaled Output command again: take it from the journal.
        guard let invocation = active[id], let output = invocation.output ?? Self.journaledOutput(invocation.journal)
        else {
            return .failed("protocol violation: End without an Output command", nextRetryDelay: nil)
        }
        if let failure = await complete(id, with: output, leavingState: invocation.attemptState) {
            return .failed("storing the completion failed: \(failure.message)", nextRetryDelay: nil)
        }
        return .completed(output)
    }

    /// The result of the last Output command in `journal`, if any.
    static func journaledOutput(_ journal: [JournalEntry]?) -> InvocationResult? {
        guard let entry = journal?.last(where: { $0.type == MessageType.output.rawValue }),
            let message = try? PBOutputCommandMessage(serializedBytes: entry.payload)
        else { return nil }
        switch message.result {
        case .failure(let failure): return .failure(Failure(failure))
        case .value(let value): return .success(value.content)
        case nil: return .success(Data())
        }
    }

    /// Parks the invocation until one of the notifications it waits for is stored, or resumes it at once if
    /// one already is (it may have arrived while the SDK was deciding to suspend).
    private func suspend(_ id: InvocationID, _ frame: Frame, generation: UInt64) -> FrameVerdict {
        guard let invocation = active[id] else { return .finished }
        let waiting: PBSuspensionMessageV6
        do {
            waiting = try frame.decode(PBSuspensionMessageV6.self)
        } catch {
            return .failed("protocol violation: cannot decode SuspensionMessage: \(error)", nextRetryDelay: nil)
        }
        guard
            !waiting.waitingCompletions.isEmpty || !waiting.waitingSignals.isEmpty
                || !waiting.waitingNamedSignals.isEmpty
        else {
            return .failed("protocol violation: suspension without anything to wait for", nextRetryDelay: nil)
        }
        let replayed = invocation.attempt?.replayed ?? 0
        invocation.attempt?.trace?.suspended()
        invocation.attempt?.input.finish()
        invocation.attempt = nil
        var waitingFor = Set<NotificationAddress>()
        for id in waiting.waitingCompletions { waitingFor.insert(.completion(id)) }
        for id in waiting.waitingSignals { waitingFor.insert(.signal(id)) }
        for name in waiting.waitingNamedSignals { waitingFor.insert(.named(name)) }
        perform(
            lifecycle.suspended(
                id,
                generation: generation,
                waiting: waitingFor,
                journal: (invocation.journal ?? []).map(NotificationAddress.init),
                replayed: replayed
            )
        )
        return .finished
    }

    private func describe(_ message: PBErrorMessage) -> String {
        var text = "[\(message.code)] \(message.message)"
        if message.hasRelatedCommandIndex { text += " (command #\(message.relatedCommandIndex))" }
        return text
    }
}
