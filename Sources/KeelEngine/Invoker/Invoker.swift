import KeelProtocol

/// Runs one attempt of an invocation against its endpoint and relays the SDK's frames to the partition.
struct Invoker: Sendable {
    let processor: PartitionProcessor

    init(processor: PartitionProcessor) {
        self.processor = processor
    }

    func run(_ id: InvocationID, generation: UInt64) async {
        let (frames, output) = AsyncStream.makeStream(of: Frame.self)
        guard let plan = await processor.prepareAttempt(id, generation: generation, output: output) else { return }
        let failure = await relay(plan, frames: frames, output: output, id: id, generation: generation)
        await processor.attemptEnded(id, generation: generation, failure: failure.map { (message: $0.message, nextRetryDelay: $0.nextRetryDelay) })
    }

    /// Runs the endpoint beside the relay; leaving this scope cancels the endpoint if it is still running.
    ///
    /// (`async let` rather than a task group: with Swift 6.3 on Linux a task group here crashed at run time.)
    private func relay(
        _ plan: AttemptPlan,
        frames: AsyncStream<Frame>,
        output: AsyncStream<Frame>.Continuation,
        id: InvocationID,
        generation: UInt64
    ) async -> AttemptFailure? {
        async let _: Void = {
            await plan.endpoint.handle(plan.head, input: plan.input, output: output)
            output.finish()
        }()
        return await relay(frames, id: id, generation: generation)
    }

    /// Hands each SDK frame to the partition until the attempt finishes; returns why it failed, if it did.
    private func relay(_ frames: AsyncStream<Frame>, id: InvocationID, generation: UInt64) async -> AttemptFailure? {
        for await frame in frames {
            switch await processor.handle(frame, from: id, generation: generation) {
            case .proceed:
                continue
            case .finished:
                return nil
            case .failed(let message, let delay):
                return AttemptFailure(message: message, nextRetryDelay: delay)
            }
        }
        if Task.isCancelled { return AttemptFailure(message: "the engine is shutting down", nextRetryDelay: nil) }
        return AttemptFailure(message: "the endpoint closed the attempt without End, Suspension or Error", nextRetryDelay: nil)
    }
}

/// Why an attempt failed, and when the SDK asked to be retried.
struct AttemptFailure: Sendable {
    var message: String
    var nextRetryDelay: Duration?
}
