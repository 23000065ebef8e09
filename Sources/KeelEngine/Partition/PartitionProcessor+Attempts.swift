import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// Attempts: starting one (its journal, state and endpoint), and what follows its end (retry, pause, kill).
extension PartitionProcessor {
    /// Starts the invocation's next attempt now.
    func startAttempt(_ id: InvocationID) {
        perform(lifecycle.start(id))
    }

    /// Loads what the attempt needs and opens its input stream with `Start` and the journal.
    func prepareAttempt(_ id: InvocationID, generation: UInt64, output: AttemptOutput) async -> AttemptPlan? {
        guard !isShuttingDown, let current = active[id], lifecycle.isCurrent(id, generation: generation),
            lifecycle.status(of: id) == .invoked
        else { return nil }
        if let timeout = settings(of: current).executionTimeout {
            perform(lifecycle.armAttemptTimeout(id, generation: generation, at: clock.now().saturatingAdding(timeout)))
        }
        let deploymentID: String
        do {
            deploymentID = try current.record.deploymentID ?? registry.resolve(current.record.target).deploymentID
        } catch {
            await attemptEnded(id, generation: generation, failure: (String(describing: error), nil))
            return nil
        }
        guard let (transport, version) = registry.transport(for: deploymentID) else {
            await attemptEnded(
                id,
                generation: generation,
                failure: ("deployment \(deploymentID) is not registered in this process", nil)
            )
            return nil
        }
        var loaded: StoredJournal?
        var state: [StateEntry] = []
        do {
            if writer.isPoisoned(id) {
                active[id]?.journal = nil
            } else if generation > 1 {
                // A resumption must not replay what is not durable yet: entries cached before their commit, or
                // (when the cache was dropped at suspension) entries the store does not have yet.
                try await writer.commit([], for: id)
            }
            if active[id]?.journal == nil {
                let stored = try await store.storedJournal(of: id)
                guard !stored.entries.isEmpty else {
                    // Its creation is not durable (it failed, and the admission that stored it answers so and
                    // forgets it): it stays poisoned, so nothing more of it is written.
                    logger.warning(
                        "an invocation's journal is not in the store; it is not started",
                        metadata: ["invocation": "\(id)"]
                    )
                    return nil
                }
                loaded = stored
                writer.recover(id)
            }
            if let object = current.record.target.object {
                if current.record.handlerKind == .exclusive, let cached = stateCache.take(object) {
                    state = ObjectStateCache.entries(cached)
                } else if current.record.handlerKind == .shared, let cached = stateCache.peek(object) {
                    // An entry lives only until the next exclusive attempt starts, and nothing else writes.
                    state = ObjectStateCache.entries(cached)
                } else {
                    state = try await store.state(of: object)
                }
            }
        } catch {
            logger.error(
                "could not load an invocation for its next attempt",
                metadata: ["invocation": "\(id)", "error": "\(error)"]
            )
            await attemptEnded(
                id,
                generation: generation,
                failure: ("storage: \(StoreError(wrapping: error).message)", nil)
            )
            return nil
        }
        guard let invocation = active[id], lifecycle.isCurrent(id, generation: generation) else { return nil }
        // An exclusive handler's writes are mirrored here, so its completion can leave the state to the next.
        invocation.attemptState = invocation.record.handlerKind == .exclusive ? ObjectStateCache.state(state) : nil
        if let loaded {
            var entries = loaded.entries
            for arrival in invocation.arrivals where arrival.index > loaded.lastIndex { entries.append(arrival.entry) }
            invocation.arrivals.removeAll()
            invocation.journal = entries
            invocation.loadedThrough = loaded.lastIndex
        }
        guard let journal = invocation.journal, !journal.isEmpty else { return nil }

        var start = PBStartMessage()
        start.id = Data(id.bytes)
        start.debugID = id.description
        start.knownEntries = UInt32(journal.count)
        start.key = invocation.record.target.key ?? ""
        start.partialState = invocation.record.target.object == nil
        start.stateMap = state.map { entry in
            PBStartMessage.StateEntry.with {
                $0.key = entry.name
                $0.value = entry.value
            }
        }
        start.retryCountSinceLastStoredEntry = UInt32(clamping: invocation.record.retryCount)
        start.durationSinceLastStoredEntry = UInt64(max(0, clock.now() - invocation.lastStoredAt))
        if version >= 6 { start.randomSeed = IdentityDerivation.randomSeed(for: id) }

        let input = AttemptInput()
        do {
            input.yield(try Frame(type: .start, message: start))
        } catch {
            return nil
        }
        for entry in journal { input.yield(Frame(type: entry.type, payload: entry.payload)) }
        // Only our own SDK, in this process, goes on with a step result before it is stored.
        let speculative = transport is any EmbeddedEndpoint
        invocation.attempt = ActiveInvocation.Attempt(
            generation: generation,
            input: input,
            output: output,
            replayed: journal.count,
            lastActivity: clock.now(),
            speculative: speculative,
            remoteDeployment: speculative ? nil : deploymentID
        )
        startInactivitySweeper()

        var headers = ["x-restate-invocation-id": id.description]
        if let key = invocation.record.target.key {
            headers["x-restate-service-key"] = key.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? key
        }
        if let tracing {
            let parent = invocation.traceContext ?? tracing.context(ofInput: journal.first)
            invocation.traceContext = parent
            invocation.attempt?.trace = tracing.attempt(
                id,
                target: invocation.record.target,
                generation: generation,
                deployment: speculative ? nil : deploymentID,
                parent: parent,
                headers: &headers
            )
        }
        let head = AttemptHead(
            service: invocation.record.target.service,
            handler: invocation.record.target.handler,
            key: invocation.record.target.key,
            protocolVersion: version,
            headers: headers,
            speculativeSteps: speculative
        )
        return AttemptPlan(
            generation: generation,
            head: head,
            endpoint: transport,
            input: input,
            isEmbedded: speculative,
            remoteDeployment: speculative ? nil : deploymentID
        )
    }

    /// Records how an attempt ended. A failure is retried with backoff, or pauses/kills the invocation when
    /// the retry policy runs out (`PartitionState.attemptEnded`).
    func attemptEnded(
        _ id: InvocationID,
        generation: UInt64,
        failure: (message: String, nextRetryDelay: Duration?)?
    ) async {
        guard let invocation = active[id], lifecycle.isCurrent(id, generation: generation) else { return }
        invocation.attempt?.trace?.end(failure: failure?.message)
        invocation.attempt?.input.finish()
        invocation.attempt = nil
        guard let failure else { return }
        invocation.record.retryCount = invocation.record.retryCount.saturatingIncrement()
        invocation.record.lastFailure = failure.message
        let actions = lifecycle.attemptEnded(
            id,
            generation: generation,
            failure: failure,
            policy: settings(of: invocation).retryPolicy,
            floor: configuration.minimumRetryDelay,
            now: clock.now()
        )
        logger.warning(
            "invocation attempt failed",
            metadata: [
                "invocation": "\(id)", "target": "\(invocation.record.target)",
                "attempt": "\(lifecycle[id]?.failedAttempts ?? 0)", "error": "\(failure.message)",
            ]
        )
        for case .storeStatus(_, .invoked, _) in actions { metrics.retryScheduled() }
        // Killed: the attempt's relay waits until the completion is stored. The other actions go together (a
        // pause and its alert are stored in one transaction).
        perform(actions.filter { if case .complete = $0 { false } else { true } })
        for case .complete(let id, let failure) in actions {
            await complete(id, with: .failure(failure))
        }
    }
}
