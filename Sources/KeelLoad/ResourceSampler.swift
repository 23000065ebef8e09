import Foundation

/// Watches CPU time and memory while the clients run: the server's (given its pid) and keel-load's own,
/// so the report can tell which side was busy.
struct ResourceSampler: Sendable {
    static let interval = Duration.milliseconds(100)

    /// What was seen over the measured window.
    struct Sample: Sendable {
        var window: Duration = .zero
        /// CPU seconds keel-load used in the window.
        var loadCPUSeconds: Double?
        var server: Server?

        struct Server: Sendable {
            var pid: Int32
            /// CPU seconds the server used in the window.
            var cpuSeconds: Double?
            /// The server's VmHWM at the end: its peak resident memory since it started.
            var peakResident: UInt64?
            /// The largest VmRSS seen in the samples of the window.
            var maxSampledResident: UInt64?
            /// Why nothing could be read, when nothing could.
            var unavailable: String?
        }
    }

    let serverPID: Int32?
    let measureStart: ContinuousClock.Instant

    /// Samples from `measureStart` until the calling task is cancelled.
    func run() async -> Sample {
        try? await Task.sleep(until: measureStart, clock: .continuous)
        let started = ContinuousClock.now
        let loadCPUStart = ProcFS.cpuSeconds(of: nil)
        let serverCPUStart = serverPID.flatMap { ProcFS.cpuSeconds(of: $0) }
        var peak: UInt64?
        var maxResident: UInt64?
        repeat {
            if let serverPID, let memory = ProcFS.memory(of: serverPID) {
                peak = memory.peakResident
                maxResident = Swift.max(maxResident ?? 0, memory.resident)
            }
            try? await Task.sleep(for: Self.interval)
        } while !Task.isCancelled

        var sample = Sample(window: ContinuousClock.now - started)
        sample.loadCPUSeconds = Self.difference(ProcFS.cpuSeconds(of: nil), loadCPUStart)
        if let serverPID {
            if let memory = ProcFS.memory(of: serverPID) {
                peak = memory.peakResident
                maxResident = Swift.max(maxResident ?? 0, memory.resident)
            }
            var server = Sample.Server(pid: serverPID)
            server.cpuSeconds = Self.difference(ProcFS.cpuSeconds(of: serverPID), serverCPUStart)
            server.peakResident = peak
            server.maxSampledResident = maxResident
            if peak == nil {
                server.unavailable = "cannot read /proc/\(serverPID)/status (no such process, or not Linux)"
            }
            sample.server = server
        }
        return sample
    }

    private static func difference(_ end: Double?, _ start: Double?) -> Double? {
        guard let end, let start else { return nil }
        return end - start
    }
}
