import KeelCore
import KeelProtocol
import KeelStore

/// Performs what the lifecycle rules (`PartitionState`) decided: the I/O edge of the partition.
extension PartitionProcessor {
    func perform(_ actions: [PartitionState.Action]) {
        for action in actions {
            switch action {
            case .startAttempt(let id, let generation):
                let invoker = Invoker(processor: self)
                spawn { await invoker.run(id, generation: generation) }
            case .storeStatus(let id, let status, let lastFailure):
                storeStatus(id, status, lastFailure: lastFailure)
            case .wakeTimerLoop:
                wakeTimerLoop()
            case .fireTimer(let id, let completionID):
                spawn { [weak self] in await self?.fireTimer(id, completionID: completionID) }
            case .sweep:
                closeIdleAttempts(now: clock.now())
            case .abandonAttempt(let id):
                active[id]?.attempt?.input.finish()
                active[id]?.attempt = nil
            case .park(let id):
                park(id)
            case .complete(let id, let failure):
                spawn { [weak self] in await self?.complete(id, with: .failure(failure)) }
            }
        }
    }

    /// Hands a status change (and the last failure, when given) to the writer.
    private func storeStatus(_ id: InvocationID, _ status: InvocationStatus, lastFailure: String?) {
        guard let invocation = active[id] else { return }
        if let lastFailure { invocation.record.lastFailure = lastFailure }
        let record = invocation.record
        if status == .paused {
            logger.error(
                "invocation paused; resume it once the cause is fixed",
                metadata: [
                    "invocation": "\(id)", "target": "\(record.target)", "reason": "\(record.lastFailure ?? "")",
                ]
            )
        }
        writer.enqueue(
            [
                .updateStatus(
                    id,
                    status: status,
                    retryCount: record.retryCount,
                    lastFailure: record.lastFailure,
                    modifiedAt: clock.now()
                )
            ],
            for: id
        )
    }

    /// A parked invocation keeps no journal in memory (10,000 sleepers would hold all theirs): the resuming
    /// attempt reloads it, and notifications stored meanwhile wait in `arrivals`.
    private func park(_ id: InvocationID) {
        guard let invocation = active[id] else { return }
        let known = invocation.journal?.count ?? 0
        invocation.journal = nil
        invocation.loadedThrough = 0
        writer.enqueue([.suspend(id, knownEntries: known, modifiedAt: clock.now())], for: id)
    }
}
