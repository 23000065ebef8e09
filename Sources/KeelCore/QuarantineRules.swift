import KeelProtocol

/// Which invocations a crash of the process is blamed on. An embedded handler that traps (an arithmetic
/// overflow, a force unwrap, an index out of range) takes the whole process down, and after a restart the
/// same invocation would run again and take it down again. A SIGKILL or a power cut blames nobody.
///
/// The first trap makes every embedded invocation that was running a suspect. Suspects are then run one at a
/// time, alone (a probe); one that traps again while running alone is the culprit and is recovered paused.
public enum QuarantineRules {
    /// What the previous run of the process left behind.
    public struct PreviousRun: Hashable, Sendable {
        /// The signal the process trapped with; 0 when it did not trap (a clean exit, SIGKILL, a power cut).
        public var trapSignal: Int32
        /// The embedded invocations whose attempts were running when it ended.
        public var running: [InvocationID]
        /// The suspect that was being run alone, if any.
        public var probe: InvocationID?
        /// Suspects still waiting for their probe.
        public var suspects: [InvocationID]

        public init(
            trapSignal: Int32 = 0,
            running: [InvocationID] = [],
            probe: InvocationID? = nil,
            suspects: [InvocationID] = []
        ) {
            self.trapSignal = trapSignal
            self.running = running
            self.probe = probe
            self.suspects = suspects
        }
    }

    public struct Verdict: Hashable, Sendable {
        /// Invocations to recover paused, with the last failure to give them.
        public var culprits: [InvocationID: String]
        /// Invocations to run alone, one at a time, before anything else embedded runs.
        public var suspects: [InvocationID]

        public init(culprits: [InvocationID: String], suspects: [InvocationID]) {
            self.culprits = culprits
            self.suspects = suspects
        }
    }

    public static func verdict(after run: PreviousRun) -> Verdict {
        var pending = (run.probe.map { [$0] } ?? []) + run.suspects
        guard run.trapSignal != 0 else { return Verdict(culprits: [:], suspects: unique(pending)) }
        if let probe = run.probe, run.running == [probe] {
            return Verdict(
                culprits: [probe: crashMessage(signal: run.trapSignal)],
                suspects: unique(pending.filter { $0 != probe })
            )
        }
        pending = run.running + pending
        return Verdict(culprits: [:], suspects: unique(pending))
    }

    /// The last failure of an invocation found to crash the process.
    public static func crashMessage(signal: Int32) -> String {
        "paused: the process crashed (\(signalName(signal))) twice while this invocation ran, the second time with its handler running alone: the handler traps (an arithmetic overflow, a force unwrap, an index out of range, a fatalError). Fix the handler, then resume or kill the invocation"
    }

    public static func signalName(_ signal: Int32) -> String {
        switch signal {
        case 4: "SIGILL"
        case 5: "SIGTRAP"
        case 6: "SIGABRT"
        case 7: "SIGBUS"
        case 8: "SIGFPE"
        case 11: "SIGSEGV"
        default: "signal \(signal)"
        }
    }

    private static func unique(_ ids: [InvocationID]) -> [InvocationID] {
        var seen = Set<InvocationID>()
        return ids.filter { seen.insert($0).inserted }
    }
}
