import KeelCore
import KeelProtocol
import Logging
import Synchronization

/// Keeps an embedded handler that traps from taking the process down at every start (see `QuarantineRules`).
///
/// Every embedded attempt is marked in the `CrashWatch` while it runs. After a trap, the suspects run one at a
/// time: while one runs (the probe), every other embedded attempt waits at `admit`. A probe that ends its
/// attempt (completes, suspends, fails) is cleared; one that takes longer than `probeTimeout` lets the others
/// go on, unproven. Remote endpoints cannot crash the process and are never held.
public final class Quarantine: Sendable {
    public let watch: CrashWatch
    let probeTimeout: Duration
    private let logger: Logger
    private let isProbing = Atomic<Bool>(false)
    private let state = Mutex(State())

    private struct State {
        var probe: InvocationID?
        var queue: [InvocationID] = []
        var waiters: [(id: InvocationID, continuation: CheckedContinuation<Void, Never>)] = []
        /// Counts probes, so a timeout only ends the probe it was set for.
        var round = 0
    }

    public init(
        watch: CrashWatch,
        probeTimeout: Duration = .seconds(30),
        logger: Logger = Logger(label: "keel.quarantine")
    ) {
        self.watch = watch
        self.probeTimeout = probeTimeout
        self.logger = logger
    }

    /// Starts running `suspects` alone, one after the other, from the first.
    func startProbing(_ suspects: [InvocationID]) {
        guard !suspects.isEmpty else { return }
        logger.warning(
            "the previous process crashed in an embedded handler: running the invocations that were running then one at a time",
            metadata: [
                "suspects": "\(suspects.map(\.description).joined(separator: ","))"
            ]
        )
        isProbing.store(true, ordering: .releasing)
        let resumed = state.withLock { state in
            state.queue = suspects
            return advance(&state)
        }
        resumed.forEach { $0.resume() }
    }

    /// Waits until an embedded attempt of `id` may run: at once unless another suspect is running alone.
    func admit(_ id: InvocationID) async {
        guard isProbing.load(ordering: .acquiring) else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let admitted = state.withLock { state in
                guard state.probe != nil, state.probe != id else { return true }
                state.waiters.append((id, continuation))
                return false
            }
            if admitted { continuation.resume() }
        }
    }

    /// An attempt of `id` ended (or could not start): when it was the probe, the next suspect runs.
    func attemptEnded(_ id: InvocationID) {
        guard isProbing.load(ordering: .acquiring) else { return }
        let resumed = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.probe == id else { return [] }
            return advance(&state)
        }
        resumed.forEach { $0.resume() }
    }

    /// Makes the next suspect the probe (or ends probing) and returns the waiters that may go now.
    private func advance(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        state.round += 1
        guard !state.queue.isEmpty else {
            state.probe = nil
            watch.setProbe(nil)
            watch.setSuspects([])
            isProbing.store(false, ordering: .releasing)
            let all = state.waiters.map(\.continuation)
            state.waiters.removeAll()
            return all
        }
        let next = state.queue.removeFirst()
        state.probe = next
        watch.setSuspects(state.queue)
        watch.setProbe(next)
        let round = state.round
        let timeout = probeTimeout
        Task { [weak self] in
            try? await Task.sleep(for: timeout)
            self?.probeTimedOut(round: round)
        }
        var released: [CheckedContinuation<Void, Never>] = []
        state.waiters.removeAll { waiter in
            guard waiter.id == next else { return false }
            released.append(waiter.continuation)
            return true
        }
        return released
    }

    private func probeTimedOut(round: Int) {
        let resumed = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.round == round, let probe = state.probe else { return [] }
            logger.warning(
                "a suspect ran alone longer than the probe timeout; the next one runs",
                metadata: ["invocation": "\(probe)"]
            )
            return advance(&state)
        }
        resumed.forEach { $0.resume() }
    }
}
