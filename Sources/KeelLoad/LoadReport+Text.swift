import Foundation

extension LoadReport {
    /// The figures, for people.
    func text() -> String {
        var lines: [String] = []
        lines.append(
            "requests:  \(requests.succeeded) ok in \(Self.fixed(elapsedSeconds, 3)) s = "
                + "\(Self.fixed(requests.perSecond, 1)) requests/s"
        )
        if let steps {
            lines.append(
                "steps:     \(steps.perRequest) per request = \(Self.fixed(steps.perSecond, 1)) durable steps/s"
            )
        }
        let latency = latencyMicroseconds
        lines.append(
            latency.count == 0
                ? "latency:   no successful request"
                : "latency:   p50 \(latency.p50) µs, p90 \(latency.p90) µs, p99 \(latency.p99) µs, max \(latency.max) µs "
                    + "(mean \(Self.fixed(latency.mean, 0)) µs)"
        )
        lines.append("errors:    \(requests.failedStatus) non-2xx, \(requests.transportErrors) transport errors")
        lines += errors.map { "           \($0)" }
        if let server = resources.server { lines.append("server:    " + server.summary) }
        if let cores = resources.loadGeneratorCores {
            lines.append("keel-load: \(Self.fixed(cores, 2)) cores of CPU")
        }
        return lines.joined(separator: "\n")
    }

    static func fixed(_ value: Double, _ digits: Int) -> String {
        String(format: "%.\(digits)f", value)
    }

    static func bytes(_ count: UInt64) -> String {
        let mebibytes = Double(count) / 1_048_576
        return mebibytes >= 1024 ? "\(fixed(mebibytes / 1024, 1)) GiB" : "\(fixed(mebibytes, 1)) MiB"
    }
}

extension LoadReport.Resources.Server {
    var summary: String {
        if let unavailable { return "pid \(pid): \(unavailable)" }
        var parts = ["pid \(pid)"]
        if let peakResidentBytes { parts.append("peak RSS \(LoadReport.bytes(peakResidentBytes)) (VmHWM)") }
        if let maxSampledResidentBytes { parts.append("max sampled RSS \(LoadReport.bytes(maxSampledResidentBytes))") }
        if let cores { parts.append("\(LoadReport.fixed(cores, 2)) cores of CPU") }
        return parts.joined(separator: ", ")
    }
}
