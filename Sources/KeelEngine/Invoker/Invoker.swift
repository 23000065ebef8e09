import KeelCore
import KeelProtocol

/// Runs one attempt of an invocation against its endpoint and relays the SDK's frames to the partition.
struct Invoker: Sendable {
    let processor: PartitionProcessor

    init(processor: PartitionProcessor) {
        self.processor = processor
    }

    /// Runs the attempt to its end. Returns the invocation's result when this attempt completed it.
    @discardableResult
    func run(_ id: InvocationID, generation: UInt64) async -> InvocationResult? {
        let output = AttemptOutput()
        guard let plan = await processor.prepareAttempt(id, generation: generation, output: output) else {
            processor.quarantine?.attemptEnded(id)
            return nil
        }
        return await run(plan, output: output, id: id)
    }

    /// Runs an attempt the partition prepared (`prepareAttempt`) to its end. An embedded one is marked running
    /// in the crash watch, and waits while a suspect of a crash runs alone.
    func run(_ plan: AttemptPlan, output: AttemptOutput, id: InvocationID) async -> InvocationResult? {
        let quarantine = plan.isEmbedded ? processor.quarantine : nil
        var slot: Int?
        if let quarantine {
            await quarantine.admit(id)
            slot = quarantine.watch.enter(id)
        }
        defer {
            if let quarantine {
                if let slot { quarantine.watch.leave(slot) }
                quarantine.attemptEnded(id)
            }
        }
        let started = ContinuousClock.now
        let outcome = await relay(plan, output: output, id: id, generation: plan.generation)
        let elapsed = (ContinuousClock.now - started).saturatingNanoseconds
        let metrics = processor.metrics
        let failure: (message: String, nextRetryDelay: Duration?)?
        switch outcome {
        case .completed(let result):
            metrics.attemptEnded(.completed, nanoseconds: elapsed)
            // Completing removed the invocation from its partition: nothing is left to record.
            return result
        case .failed(let reason):
            metrics.attemptEnded(.failed, nanoseconds: elapsed)
            if reason.isEndpointFault, let deployment = plan.remoteDeployment {
                metrics.endpointError(deployment: deployment)
            }
            failure = (reason.message, reason.nextRetryDelay)
        case .ended:
            metrics.attemptEnded(.suspended, nanoseconds: elapsed)
            failure = nil
        }
        await processor.attemptEnded(id, generation: plan.generation, failure: failure)
        return nil
    }

    /// How an attempt ended.
    private enum Outcome {
        /// Suspended, superseded, or ended by the engine.
        case ended
        /// The invocation completed with this (stored) result.
        case completed(InvocationResult)
        case failed(AttemptFailure)
    }

    /// Runs the endpoint beside the relay; leaving this scope cancels the endpoint if it is still running.
    ///
    /// (`async let` rather than a task group: with Swift 6.3 on Linux a task group here crashed at run time.)
    private func relay(
        _ plan: AttemptPlan,
        output: AttemptOutput,
        id: InvocationID,
        generation: UInt64
    ) async -> Outcome {
        async let _: Void = {
            await plan.endpoint.handle(plan.head, input: plan.input, output: output)
            output.finish()
        }()
        return await relay(output, id: id, generation: generation)
    }

    /// Hands the SDK's frames to the partition until the attempt finishes, with what an embedded SDK said
    /// beside them (`AttemptOutput.Entry`). Frames written together go over in one batch: one wake-up and one
    /// hop to the partition for all.
    private func relay(_ output: AttemptOutput, id: InvocationID, generation: UInt64) async -> Outcome {
        while true {
            let entries = await output.nextEntries()
            if entries.isEmpty { break }
            switch await processor.handle(entries, from: id, generation: generation) {
            case .proceed:
                continue
            case .finished:
                return .ended
            case .completed(let result):
                return .completed(result)
            case .failed(let message, let delay):
                return .failed(AttemptFailure(message: message, nextRetryDelay: delay))
            }
        }
        if Task.isCancelled {
            return .failed(AttemptFailure(message: "the engine is shutting down", nextRetryDelay: nil))
        }
        return .failed(
            AttemptFailure(
                message: "the endpoint closed the attempt without End, Suspension or Error",
                nextRetryDelay: nil,
                isEndpointFault: true
            )
        )
    }
}

/// Why an attempt failed, and when the SDK asked to be retried.
struct AttemptFailure: Sendable {
    var message: String
    var nextRetryDelay: Duration?
    /// The endpoint broke the protocol (counted in `keel_endpoint_errors_total` for a remote deployment); an
    /// `Error` frame is counted where the partition reads it.
    var isEndpointFault = false
}
