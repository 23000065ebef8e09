import Foundation

/// The machine a run happened on, printed above its figures so that numbers are never quoted without it.
struct MachineFacts: Codable, Sendable {
    /// Processors this process may run on (what `nproc` prints).
    var activeProcessors: Int
    /// Processors the machine has (/proc/cpuinfo, or ProcessInfo elsewhere).
    var processors: Int
    var cpuModel: String?
    var memoryBytes: UInt64
    /// "Linux 6.1.0 x86_64", or what ProcessInfo knows elsewhere.
    var kernel: String
    /// How keel-load itself was compiled: "release" or "debug".
    var loadGeneratorBuild: String
    /// The 1-, 5- and 15-minute load averages when the run started (/proc/loadavg): other work on the machine
    /// shows here, and skews every figure.
    var loadAverage: String?

    static func current() -> MachineFacts {
        let info = ProcessInfo.processInfo
        let cpu = ProcFS.cpuInfo()
        return MachineFacts(
            activeProcessors: info.activeProcessorCount,
            processors: cpu.map(\.processors).flatMap { $0 > 0 ? $0 : nil } ?? info.processorCount,
            cpuModel: cpu?.model,
            memoryBytes: info.physicalMemory,
            kernel: kernel(),
            loadGeneratorBuild: buildConfiguration,
            loadAverage: ProcFS.read("/proc/loadavg").map { $0.split(separator: " ").prefix(3).joined(separator: " ") }
        )
    }

    private static func kernel() -> String {
        let type = ProcFS.read("/proc/sys/kernel/ostype")?.trimmingCharacters(in: .whitespacesAndNewlines)
        let release = ProcFS.read("/proc/sys/kernel/osrelease")?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let type, let release else { return ProcessInfo.processInfo.operatingSystemVersionString }
        #if arch(x86_64)
        return "\(type) \(release) x86_64"
        #elseif arch(arm64)
        return "\(type) \(release) arm64"
        #else
        return "\(type) \(release)"
        #endif
    }

    private static var buildConfiguration: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }
}

extension MachineFacts {
    var summary: String {
        var parts = ["\(activeProcessors) of \(processors) cores" + (cpuModel.map { " (\($0))" } ?? "")]
        parts.append(LoadReport.bytes(memoryBytes) + " memory")
        parts.append(kernel)
        parts.append("keel-load \(loadGeneratorBuild) build")
        if let loadAverage { parts.append("load average \(loadAverage)") }
        return parts.joined(separator: ", ")
    }
}
