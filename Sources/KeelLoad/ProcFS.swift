import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Readings from Linux's /proc; nil where it is not there or not readable.
enum ProcFS {
    /// Peak (VmHWM) and current (VmRSS) resident memory of a process, in bytes.
    struct Memory: Sendable {
        var peakResident: UInt64
        var resident: UInt64
    }

    static func memory(of pid: Int32) -> Memory? {
        guard let status = read("/proc/\(pid)/status") else { return nil }
        var fields: [String: UInt64] = [:]
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") || line.hasPrefix("VmRSS:") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2, let kibibytes = UInt64(parts[1]) else { continue }
            fields[String(parts[0].dropLast())] = kibibytes * 1024
        }
        guard let peak = fields["VmHWM"], let resident = fields["VmRSS"] else { return nil }
        return Memory(peakResident: peak, resident: resident)
    }

    /// User plus system CPU time a process has used so far (`utime + stime` of /proc/PID/stat), in seconds.
    /// `pid` nil reads this process.
    static func cpuSeconds(of pid: Int32?) -> Double? {
        guard let stat = read("/proc/\(pid.map(String.init) ?? "self")/stat"),
            let closing = stat.lastIndex(of: ")")
        else { return nil }
        // After the parenthesised command name come the fields from 3 (state) on: utime is 14, stime 15.
        let fields = stat[stat.index(after: closing)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / clockTicksPerSecond
    }

    /// The `model name` of the first processor in /proc/cpuinfo, and how many processors it lists.
    static func cpuInfo() -> (model: String?, processors: Int)? {
        guard let info = read("/proc/cpuinfo") else { return nil }
        var model: String?
        var processors = 0
        for line in info.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0] == "processor" { processors += 1 }
            if parts[0] == "model name", model == nil { model = parts[1] }
        }
        return (model, processors)
    }

    /// A small text file, read to its end (files in /proc report a size of 0, so nothing may trust it).
    static func read(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    private static var clockTicksPerSecond: Double {
        #if canImport(Glibc)
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return ticks > 0 ? Double(ticks) : 100
        #else
        return 100
        #endif
    }
}
