import Foundation
import KeelCore
import KeelProtocol
import Synchronization

/// The engine's concurrency slots and rate tokens (`ConcurrencyState`, `RateState`): one value for the
/// process, shared by the partitions (a cluster would give each key's slots to the partition that owns the
/// key's hash). The rules decide; the partitions start, hold, cancel and fail what they say.
final class FlowControl: Sendable {
    private let state = Mutex((concurrency: ConcurrencyState(), rates: RateState()))

    func arrive(
        _ id: InvocationID,
        group: String,
        key: String,
        rule: ConcurrencyRule
    ) -> (decision: ConcurrencyState.Decision, actions: [ConcurrencyState.Action]) {
        state.withLock { $0.concurrency.arrive(id, group: group, key: key, rule: rule) }
    }

    func occupy(_ id: InvocationID, group: String, key: String, rule: ConcurrencyRule) {
        state.withLock { $0.concurrency.occupy(id, group: group, key: key, rule: rule) }
    }

    func isRunning(_ id: InvocationID) -> Bool {
        state.withLock { $0.concurrency.isRunning(id) }
    }

    func ended(_ id: InvocationID) -> [ConcurrencyState.Action] {
        state.withLock { state in
            state.concurrency.isTracked(id) ? state.concurrency.ended(id) : []
        }
    }

    func take(_ bucket: String, rule: RateRule, now: Int64) -> Int64? {
        state.withLock { $0.rates.take(bucket, rule: rule, now: now) }
    }
}

/// The values flow control reads from an invocation: its object key, input and headers.
struct FlowInput {
    var objectKey: String?
    var body: Data
    var headers: [(String, String)]

    init(target: InvocationTarget, input: JournalEntry) {
        objectKey = target.key
        let message = try? PBInputCommandMessage(serializedBytes: input.payload)
        body = message?.value.content ?? Data()
        headers = message?.headers.map { ($0.key, $0.value) } ?? []
    }
}

extension PartitionProcessor {
    /// The group a handler's limits count in.
    static func flowGroup(_ target: InvocationTarget) -> String { "\(target.service)/\(target.handler)" }

    /// The settings of a new invocation's handler (computed once, then kept with the invocation by `admit`).
    func settings(of request: NewInvocation) -> HandlerSettings {
        registry.settings(
            for: InvocationRecordSummary(
                target: request.resolved.target,
                handlerKind: request.resolved.handlerKind,
                hasIdempotencyKey: request.idempotencyKey != nil,
                deploymentID: request.resolved.deploymentID
            ),
            defaults: configuration
        )
    }

    /// Applies the handler's rate limits to a new invocation: when it may start (`executeAt`, later when it
    /// must wait for a token), or 429 when a limit rejects instead.
    func rateGate(
        _ request: NewInvocation,
        settings: HandlerSettings,
        executeAt: Int64?
    ) throws(EngineError) -> Int64? {
        let rates = settings.flow.rates
        guard !rates.isEmpty else { return executeAt }
        let input = FlowInput(target: request.resolved.target, input: request.input)
        let now = clock.now()
        var startAt = max(executeAt ?? now, now)
        for rule in rates {
            let value = rule.key.value(objectKey: input.objectKey, input: input.body, headers: input.headers) ?? ""
            let bucket = "\(Self.flowGroup(request.resolved.target))|\(rule.key)|\(value)"
            guard let at = router.flow.take(bucket, rule: rule, now: startAt) else {
                throw EngineError(
                    .rateLimited,
                    "rate limit of \(Self.flowGroup(request.resolved.target)) reached for '\(value)' (\(rule.limit) per \(Duration.milliseconds(rule.period))); try again later"
                )
            }
            startAt = max(startAt, at)
        }
        return startAt > now ? startAt : executeAt
    }

    /// Whether attempt `generation` may start now under the handler's concurrency limit; when not, it is held
    /// (or failed) and started later by `startHeld`.
    func concurrencyGate(_ id: InvocationID, generation: UInt64) -> Bool {
        guard let invocation = active[id], let rule = settings(of: invocation).flow.concurrency,
            !router.flow.isRunning(id)
        else { return true }
        let record = invocation.record
        let key: String
        if let input = invocation.journal?.first {
            let values = FlowInput(target: record.target, input: input)
            key = rule.key.value(objectKey: values.objectKey, input: values.body, headers: values.headers) ?? ""
        } else {
            key = rule.key.value(objectKey: record.target.key, input: Data(), headers: []) ?? ""
        }
        let (decision, actions) = router.flow.arrive(id, group: Self.flowGroup(record.target), key: key, rule: rule)
        performFlow(actions)
        switch decision {
        case .run:
            return true
        case .wait:
            held[id] = generation
            return false
        case .reject(let reason):
            spawn { [weak self] in _ = await self?.complete(id, with: .failure(Failure(code: 409, message: reason))) }
            return false
        }
    }

    /// Starts an invocation held for a slot (it got one).
    func startHeld(_ id: InvocationID) {
        guard let generation = held.removeValue(forKey: id), lifecycle.isCurrent(id, generation: generation) else {
            return
        }
        let invoker = Invoker(processor: self)
        spawn { await invoker.run(id, generation: generation) }
    }

    /// Ends a held invocation without running it (`cancelInProgress`).
    func failHeld(_ id: InvocationID, _ reason: String) async {
        held[id] = nil
        _ = await complete(id, with: .failure(Failure(code: 409, message: reason)))
    }

    /// Frees the invocation's slot, if it held one, and starts whoever gets it.
    func releaseFlow(_ id: InvocationID) {
        held[id] = nil
        performFlow(router.flow.ended(id))
    }

    private func performFlow(_ actions: [ConcurrencyState.Action]) {
        guard !actions.isEmpty else { return }
        let router = self.router
        spawn {
            for action in actions {
                switch action {
                case .start(let next): await router.partition(for: next)?.startHeld(next)
                case .cancel(let running): _ = try? await router.partition(for: running)?.cancel(running)
                case .fail(let waiting, let reason): await router.partition(for: waiting)?.failHeld(waiting, reason)
                }
            }
        }
    }
}
