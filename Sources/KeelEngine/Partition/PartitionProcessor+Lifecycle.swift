import KeelCore
import KeelProtocol
import KeelStore

/// Performs what the lifecycle rules (`PartitionState`) decided: the I/O edge of the partition.
extension PartitionProcessor {
    func perform(_ actions: [PartitionState.Action]) {
        var alerting: Set<InvocationID> = []
        for case .alertPaused(let id) in actions { alerting.insert(id) }
        for action in actions {
            switch action {
            case .startAttempt(let id, let generation):
                guard concurrencyGate(id, generation: generation) else { continue }
                let invoker = Invoker(processor: self)
                spawn { await invoker.run(id, generation: generation) }
            case .storeStatus(let id, let status, let lastFailure):
                storeStatus(id, status, lastFailure: lastFailure, alert: alerting.contains(id) && status == .paused)
            case .alertPaused:
                break  // With its `storeStatus`.
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
            case .timeOutAttempt(let id, let generation):
                timeOutAttempt(id, generation: generation)
            case .timeOut(let id, let timeout):
                spawn { [weak self] in await self?.timeOut(id, timeout) }
            }
        }
    }

    /// Arms the handler's total and schedule timeouts of an invocation admitted or recovered here.
    func armTimeouts(of id: InvocationID) {
        guard let invocation = active[id] else { return }
        let settings = settings(of: invocation)
        guard settings.totalTimeout != nil || settings.scheduleTimeout != nil else { return }
        let record = invocation.record
        perform(
            lifecycle.armTimeouts(
                id,
                total: settings.totalTimeout.map { record.createdAt.saturatingAdding($0) },
                schedule: settings.scheduleTimeout.map {
                    max(record.createdAt, record.executeAt ?? 0).saturatingAdding($0)
                }
            )
        )
    }

    /// Aborts an attempt that ran past its handler's `executionTimeout`; the failure is retried as any other.
    private func timeOutAttempt(_ id: InvocationID, generation: UInt64) {
        guard lifecycle.isCurrent(id, generation: generation), let invocation = active[id],
            let attempt = invocation.attempt
        else { return }
        let timeout = settings(of: invocation).executionTimeout.map { "\(Duration.milliseconds($0))" } ?? "?"
        attempt.output.yield(
            .error(
                code: 408,
                message:
                    "the attempt ran longer than its handler's executionTimeout (\(timeout)); it is aborted and retried"
            )
        )
        attempt.output.finish()
        logger.warning(
            "an attempt ran past its execution timeout",
            metadata: ["invocation": "\(id)", "target": "\(invocation.record.target)"]
        )
    }

    /// An invocation ran past its total timeout (cancelled; one that never started ends with 408) or its
    /// schedule timeout (ends with 408).
    private func timeOut(_ id: InvocationID, _ timeout: PartitionState.Timeout) async {
        guard let invocation = active[id], let status = lifecycle.status(of: id) else { return }
        let settings = settings(of: invocation)
        let notStarted = status == .inboxed || status == .scheduled
        let message: String
        switch timeout {
        case .total:
            message =
                "the invocation did not complete within its handler's totalTimeout (\(Duration.milliseconds(settings.totalTimeout ?? 0)))"
        case .schedule:
            message =
                "the invocation did not start within its handler's scheduleTimeout (\(Duration.milliseconds(settings.scheduleTimeout ?? 0)))"
        }
        logger.warning("invocation timed out", metadata: ["invocation": "\(id)", "reason": "\(message)"])
        if notStarted {
            _ = await complete(id, with: .failure(Failure(code: 408, message: message)))
        } else {
            _ = try? await cancel(id)
        }
    }

    /// Hands a status change (and the last failure, when given) to the writer.
    private func storeStatus(_ id: InvocationID, _ status: InvocationStatus, lastFailure: String?, alert: Bool) {
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
        var operations: [StoreOperation] = [
            .updateStatus(
                id,
                status: status,
                retryCount: record.retryCount,
                lastFailure: record.lastFailure,
                modifiedAt: clock.now()
            )
        ]
        let failureAlert =
            alert
            ? self.failureAlert(
                for: invocation,
                failure: Failure(code: 500, message: record.lastFailure ?? ""),
                paused: true
            ) : nil
        if let failureAlert { operations.append(.insertEvent(failureAlert)) }
        guard writer.enqueue(operations, for: id) != nil else { return }
        if status == .paused { metrics.invocationPaused() }
        if let failureAlert { deliverAlert(failureAlert) }
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
