import Crypto
import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import Synchronization

/// The engine's concurrency slots and rate tokens (`ConcurrencyState`, `RateState`): one value for the
/// process, shared by the partitions (a cluster would give each key's slots to the partition that owns the
/// key's hash). The rules decide; the partitions start, hold, cancel and fail what they say.
final class FlowControl: Sendable {
    private let state = Mutex((concurrency: ConcurrencyState(), rates: RateState()))
    func group(of id: InvocationID) -> String? {
        state.withLock { $0.concurrency.group(of: id) }
    }

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

    /// Forgets the groups `forgets` names (their keeper partition left this node); returns their members.
    func forgetGroups(where forgets: (String) -> Bool) -> [(id: InvocationID, running: Bool)] {
        state.withLock { $0.concurrency.forgetGroups(where: forgets) }
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
    /// must wait for a token), or 429 when a limit rejects instead. On a cluster, `sharedRateGate` took them.
    func rateGate(
        _ request: NewInvocation,
        settings: HandlerSettings,
        executeAt: Int64?
    ) throws(EngineError) -> Int64? {
        let rates = settings.flow.rates
        guard !rates.isEmpty, !(store is any LeasedStore) else { return executeAt }
        let now = clock.now()
        var startAt = max(executeAt ?? now, now)
        for (rule, value, bucket) in Self.rateBuckets(request, rates: rates) {
            guard let at = router.flow.take(bucket, rule: rule, now: startAt) else {
                throw Self.rateLimited(request, rule: rule, value: value)
            }
            startAt = max(startAt, at)
        }
        return startAt > now ? startAt : executeAt
    }

    /// On a cluster, a handler's rate tokens are taken from buckets every node shares, in the store
    /// (`LeasedStore.takeRateToken`), before the invocation is admitted: when it may start (`executeAt`, later
    /// when it must wait for a token), or 429 when a limit rejects instead. A duplicate of a stored invocation
    /// takes none. On one node it returns `executeAt` unchanged: `rateGate` takes the tokens in memory.
    func sharedRateGate(
        _ request: NewInvocation,
        settings: HandlerSettings,
        executeAt: Int64?
    ) async throws(EngineError) -> Int64? {
        let rates = settings.flow.rates
        guard !rates.isEmpty, let shared = store as? any LeasedStore else { return executeAt }
        if request.idempotencyKey != nil || request.resolved.handlerKind == .workflow,
            (try? await store.invocation(request.id)) != nil
        {
            return executeAt
        }
        let now = clock.now()
        var startAt = max(executeAt ?? now, now)
        for (rule, value, bucket) in Self.rateBuckets(request, rates: rates) {
            let (interval, tolerance) = RateState.spacing(rule)
            let taken: Int64?
            do {
                // Hashed: the key's value comes from the request and has no length limit of its own.
                taken = try await shared.takeRateToken(
                    SHA256.hash(data: Data(bucket.utf8)).map { String(format: "%02x", $0) }.joined(),
                    now: startAt,
                    interval: interval,
                    tolerance: tolerance,
                    reject: rule.onExceeded == .reject
                )
            } catch {
                throw EngineError.storage(error)
            }
            guard let taken else { throw Self.rateLimited(request, rule: rule, value: value) }
            startAt = max(startAt, taken)
        }
        return startAt > now ? startAt : executeAt
    }

    /// The buckets a new invocation takes a token from: each rule, its key's value, and the bucket's name.
    static func rateBuckets(
        _ request: NewInvocation,
        rates: [RateRule]
    ) -> [(rule: RateRule, value: String, bucket: String)] {
        let input = FlowInput(target: request.resolved.target, input: request.input)
        return rates.map { rule in
            let value = rule.key.value(objectKey: input.objectKey, input: input.body, headers: input.headers) ?? ""
            return (rule, value, "\(flowGroup(request.resolved.target))|\(rule.key)|\(value)")
        }
    }

    static func rateLimited(_ request: NewInvocation, rule: RateRule, value: String) -> EngineError {
        EngineError(
            .rateLimited,
            "rate limit of \(flowGroup(request.resolved.target)) reached for '\(value)' (\(rule.limit) per \(Duration.milliseconds(rule.period))); try again later"
        )
    }

    /// Whether attempt `generation` may start now under the handler's concurrency limit; when not, it is held
    /// (or failed) and started later by `startHeld`.
    ///
    /// The slots of a handler are kept by one partition (`PartitionRouter.flowKeeper(of:)`). On one node that
    /// is always this process; on a cluster whose partitions are spread, an invocation whose keeper runs on
    /// another node asks it for a slot with an outbox message and waits, held, for the grant.
    func concurrencyGate(_ id: InvocationID, generation: UInt64) -> Bool {
        guard let invocation = active[id], let rule = settings(of: invocation).flow.concurrency else { return true }
        let record = invocation.record
        let group = Self.flowGroup(record.target)
        let keeper = router.flowKeeper(of: group)
        if router.owns(keeper) {
            if router.flow.isRunning(id) { return true }
        } else if granted.contains(id) {
            return true
        }
        let key = flowKey(invocation, rule: rule)
        guard router.owns(keeper) else {
            let arrival = PartitionMessage.FlowArrival(id: id.description, group: group, key: key, rule: rule)
            held[id] = generation
            askingKeeper[id] = (arrival, keeper, clock.now())
            if let message = outboxMessage(.flowArrive(arrival), partition: keeper) {
                writer.enqueue([message], for: id)
            }
            return false
        }
        let (decision, actions) = router.flow.arrive(id, group: group, key: key, rule: rule)
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

    /// The key an invocation's concurrency slots count under (from its input, when its journal is loaded).
    func flowKey(_ invocation: ActiveInvocation, rule: ConcurrencyRule) -> String {
        let record = invocation.record
        if let input = invocation.journal?.first {
            let values = FlowInput(target: record.target, input: input)
            return rule.key.value(objectKey: values.objectKey, input: values.body, headers: values.headers) ?? ""
        }
        return rule.key.value(objectKey: record.target.key, input: Data(), headers: []) ?? ""
    }

    /// This node gave keeper partition `keeper` up: of `members` (its groups' invocations, forgotten by the
    /// node's slots), those of this partition that run keep their slot as granted, and those that wait ask
    /// the keeper's next owner at the next outbox round (which rebuilds its slots from the store meanwhile).
    func keeperLeft(_ keeper: Int, members: [(id: InvocationID, running: Bool)]) {
        let now = clock.now()
        for member in members {
            guard let invocation = active[member.id] else { continue }
            if member.running {
                granted.insert(member.id)
            } else if held[member.id] != nil, let rule = settings(of: invocation).flow.concurrency {
                let arrival = PartitionMessage.FlowArrival(
                    id: member.id.description,
                    group: Self.flowGroup(invocation.record.target),
                    key: flowKey(invocation, rule: rule),
                    rule: rule
                )
                askingKeeper[member.id] = (arrival, keeper, now.saturatingSubtracting(Self.flowReminder))
            }
        }
    }

    /// Asks the keepers again for the slots this partition's held invocations wait for, every `flowReminder`:
    /// a grant lost with a failed commit on the keeper's side (or a keeper that restarted) is given again,
    /// since asking twice is answered like asking once.
    func remindKeepers() {
        let now = clock.now()
        for (id, asked) in askingKeeper where now.saturatingSubtracting(asked.at) >= Self.flowReminder {
            guard held[id] != nil else {
                askingKeeper[id] = nil
                continue
            }
            askingKeeper[id]?.at = now
            if let message = outboxMessage(.flowArrive(asked.arrival), partition: asked.keeper) {
                writer.enqueue([message], for: id)
            }
        }
    }

    /// How long a held invocation waits for its keeper's answer before it asks again (milliseconds).
    static let flowReminder: Int64 = 5_000

    /// The outbox message that frees a completing invocation's slot at a keeper on another node (in the
    /// completion's transaction, so that a slot is never kept by an invocation that ended); nil when its slots
    /// are kept here or it has no concurrency limit.
    ///
    /// It stops the invocation's reminders first: one sent after its end would make the keeper take it for a
    /// newcomer. The handler's limit is looked up twice, as the invocation was admitted and as it is now (a
    /// keeper that rebuilt its slots after a limit was added counts the invocation too).
    func flowEndedMessage(_ invocation: ActiveInvocation) -> StoreOperation? {
        let id = invocation.record.id
        askingKeeper[id] = nil
        let keeper = router.flowKeeper(of: Self.flowGroup(invocation.record.target))
        guard !router.owns(keeper) else { return nil }
        let limited =
            settings(of: invocation).flow.concurrency != nil || granted.contains(id) || held[id] != nil
            || registry.settings(for: InvocationRecordSummary(invocation.record), defaults: configuration).flow
                .concurrency != nil
        guard limited else { return nil }
        return outboxMessage(.flowEnded(target: id.description), partition: keeper)
    }

    /// Starts an invocation held for a slot (it got one).
    func startHeld(_ id: InvocationID) {
        askingKeeper[id] = nil
        guard let generation = held.removeValue(forKey: id), lifecycle.isCurrent(id, generation: generation) else {
            return
        }
        let invoker = Invoker(processor: self)
        spawn { await invoker.run(id, generation: generation) }
    }

    /// Ends a held invocation without running it (`cancelInProgress`).
    func failHeld(_ id: InvocationID, _ reason: String) async {
        held[id] = nil
        askingKeeper[id] = nil
        _ = await complete(id, with: .failure(Failure(code: 409, message: reason)))
    }

    /// Frees the invocation's slot, if it held one, and starts whoever gets it.
    func releaseFlow(_ id: InvocationID) {
        held[id] = nil
        askingKeeper[id] = nil
        granted.remove(id)
        performFlow(router.flow.ended(id))
    }

    /// Carries out what the slots' rules decided: for invocations on this node's partitions at once, for the
    /// others with outbox messages, stored with `operations` (a received message's deletion).
    func performFlow(_ actions: [ConcurrencyState.Action], with operations: [StoreOperation] = []) {
        let router = self.router
        var messages = operations
        var local: [ConcurrencyState.Action] = []
        for action in actions {
            let (target, message): (InvocationID, PartitionMessage) =
                switch action {
                case .start(let next):
                    (
                        next,
                        .flowGrant(target: next.description, keeper: router.flow.group(of: next).map(router.flowKeeper))
                    )
                case .cancel(let running): (running, .cancel(target: running.description))
                case .fail(let waiting, let reason): (waiting, .flowFail(target: waiting.description, reason: reason))
                }
            if case .remote(let partition) = router.route(target) {
                if let message = outboxMessage(message, partition: partition) { messages.append(message) }
            } else {
                local.append(action)
            }
        }
        if !messages.isEmpty { writer.enqueue(messages, for: []) }
        guard !local.isEmpty else { return }
        spawn { [local] in
            for action in local {
                switch action {
                case .start(let next): await router.partition(for: next)?.startHeld(next)
                case .cancel(let running): _ = try? await router.partition(for: running)?.cancel(running)
                case .fail(let waiting, let reason): await router.partition(for: waiting)?.failHeld(waiting, reason)
                }
            }
        }
    }

    /// The keeper's side: an invocation on another node asks for a slot (again, after a restart or a reminder:
    /// asking twice is answered like asking once). The answer goes back with the message's deletion.
    func receiveArrival(_ arrival: PartitionMessage.FlowArrival, outboxID: Int64) -> AfterCommit? {
        guard let id = InvocationID(arrival.id) else { return discard(outboxID, malformed: true) }
        let (decision, actions) = router.flow.arrive(id, group: arrival.group, key: arrival.key, rule: arrival.rule)
        var answer = actions
        switch decision {
        case .run: answer.insert(.start(id), at: 0)
        case .wait: break
        case .reject(let reason): answer.insert(.fail(id, reason), at: 0)
        }
        performFlow(answer, with: [.deleteOutbox(outboxID)])
        return nil
    }

    /// The keeper's side: an invocation on another node ended; its slot goes to the next.
    func receiveEnded(_ id: InvocationID, done: StoreOperation) -> AfterCommit? {
        performFlow(router.flow.ended(id), with: [done])
        return nil
    }

    /// The invocation's side: its keeper (partition `keeper`) gave it a slot. An invocation that ended
    /// meanwhile gives it back at once, so that the keeper does not keep a slot for it.
    func receiveGrant(_ id: InvocationID, keeper: Int?) -> [StoreOperation] {
        guard active[id] != nil else {
            guard let keeper, let message = outboxMessage(.flowEnded(target: id.description), partition: keeper) else {
                return []
            }
            return [message]
        }
        granted.insert(id)
        startHeld(id)
        return []
    }

    /// The invocation's side: its keeper refused it (`cancelNewest`) or a newer one superseded it
    /// (`cancelInProgress`) while it waited.
    func receiveFlowFailure(_ id: InvocationID, reason: String) async {
        guard held[id] != nil else { return }
        await failHeld(id, reason)
    }
}
