import Foundation
import KeelCore
import KeelProtocol
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small file in the data directory, mapped into memory, that says which embedded invocations are running
/// and whether the process trapped. Updating it costs memory stores, not writes or fsyncs: the kernel keeps a
/// shared mapping's pages when the process dies, so the next start reads what the dead process last stored.
/// (A power cut loses it, and blames nobody, which is right: a power cut is no handler's fault.)
///
/// A handler for the signals a trap raises (`installTrapHandler`) stores the signal number in the mapping,
/// then lets the previous handler (Swift's backtracer) or the default action end the process. SIGKILL cannot
/// be caught, so a killed process leaves no signal and blames nobody.
public final class CrashWatch: Sendable {
    /// Running attempts tracked at once; more run untracked (and cannot be blamed).
    static let slotCount = 4_096
    static let idSize = InvocationID.byteCount
    private static let magic: UInt64 = 0x4B45_454C_4357_0001
    // Layout: magic (8) | trap signal (4) | probe set (4) | probe id (24) | pad to 64
    //         | slotCount running slots of [in use (8) | id (24)] | suspect count (8) | slotCount suspect ids.
    private static let signalOffset = 8
    private static let probeFlagOffset = 12
    private static let probeOffset = 16
    private static let runningOffset = 64
    private static let runningSlotSize = 32
    private static let suspectCountOffset = runningOffset + slotCount * runningSlotSize
    private static let suspectsOffset = suspectCountOffset + 8
    static let fileSize = suspectsOffset + slotCount * idSize

    /// What the previous process left: the input of `QuarantineRules.verdict`.
    public let previousRun: QuarantineRules.PreviousRun

    nonisolated(unsafe) private let base: UnsafeMutableRawPointer
    /// Free running slots; every store to the mapping but the signal handler's is made under this lock.
    private let freeSlots: Mutex<[Int]>

    /// Maps `crash-watch` in `directory` (creating it), reads what the previous process left, and clears it.
    public init(directory: String) throws {
        let path = directory + "/crash-watch"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CrashWatchError("cannot open \(path): errno \(errno)") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw CrashWatchError("cannot stat \(path): errno \(errno)") }
        let fresh = Int(status.st_size) != Self.fileSize
        if fresh, ftruncate(descriptor, off_t(Self.fileSize)) != 0 {
            throw CrashWatchError("cannot size \(path): errno \(errno)")
        }
        guard let mapped = mmap(nil, Self.fileSize, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0),
            mapped != MAP_FAILED
        else {
            throw CrashWatchError("cannot map \(path): errno \(errno)")
        }
        base = mapped
        previousRun = fresh ? QuarantineRules.PreviousRun() : Self.read(mapped)
        memset(mapped, 0, Self.fileSize)
        mapped.storeBytes(of: Self.magic, as: UInt64.self)
        freeSlots = Mutex(Array((0..<Self.slotCount).reversed()))
    }

    deinit {
        munmap(base, Self.fileSize)
    }

    private static func read(_ base: UnsafeMutableRawPointer) -> QuarantineRules.PreviousRun {
        guard base.load(as: UInt64.self) == magic else { return QuarantineRules.PreviousRun() }
        var run = QuarantineRules.PreviousRun(trapSignal: base.load(fromByteOffset: signalOffset, as: Int32.self))
        if base.load(fromByteOffset: probeFlagOffset, as: Int32.self) != 0 {
            run.probe = id(at: base + probeOffset)
        }
        for slot in 0..<slotCount {
            let slotBase = base + runningOffset + slot * runningSlotSize
            if slotBase.load(as: UInt64.self) != 0, let id = id(at: slotBase + 8) { run.running.append(id) }
        }
        let count = min(Int(clamping: base.load(fromByteOffset: suspectCountOffset, as: UInt64.self)), slotCount)
        for index in 0..<count {
            if let id = id(at: base + suspectsOffset + index * idSize) { run.suspects.append(id) }
        }
        return run
    }

    private static func id(at address: UnsafeMutableRawPointer) -> InvocationID? {
        InvocationID(bytes: UnsafeRawBufferPointer(start: address, count: idSize))
    }

    private static func store(_ id: InvocationID, at address: UnsafeMutableRawPointer) {
        let bytes = id.bytes
        bytes.withUnsafeBytes { source in
            if let start = source.baseAddress { address.copyMemory(from: start, byteCount: min(source.count, idSize)) }
        }
    }

    /// Marks `id` running; returns its slot for `leave`, nil when every slot is taken.
    func enter(_ id: InvocationID) -> Int? {
        freeSlots.withLock { free in
            guard let slot = free.popLast() else { return nil }
            let slotBase = base + Self.runningOffset + slot * Self.runningSlotSize
            Self.store(id, at: slotBase + 8)
            slotBase.storeBytes(of: 1, as: UInt64.self)
            return slot
        }
    }

    func leave(_ slot: Int) {
        freeSlots.withLock { free in
            (base + Self.runningOffset + slot * Self.runningSlotSize).storeBytes(of: 0, as: UInt64.self)
            free.append(slot)
        }
    }

    /// Records the suspect running alone now (nil: none).
    func setProbe(_ id: InvocationID?) {
        freeSlots.withLock { _ in
            if let id { Self.store(id, at: base + Self.probeOffset) }
            base.storeBytes(of: id == nil ? 0 : 1, toByteOffset: Self.probeFlagOffset, as: Int32.self)
        }
    }

    /// Records the suspects still to run alone.
    func setSuspects(_ ids: [InvocationID]) {
        freeSlots.withLock { _ in
            let kept = ids.prefix(Self.slotCount)
            for (index, id) in kept.enumerated() {
                Self.store(id, at: base + Self.suspectsOffset + index * Self.idSize)
            }
            base.storeBytes(of: UInt64(kept.count), toByteOffset: Self.suspectCountOffset, as: UInt64.self)
        }
    }

    /// Makes this watch the one the trap handler marks, and installs the handler for SIGILL, SIGTRAP,
    /// SIGABRT, SIGBUS, SIGFPE and SIGSEGV (once per process; a later watch replaces the marked one).
    public func installTrapHandler() {
        TrapHandler.install(signalWord: (base + Self.signalOffset).assumingMemoryBound(to: Int32.self))
    }
}

struct CrashWatchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The process-wide signal handler behind `CrashWatch.installTrapHandler`. It only stores to memory and calls
/// async-signal-safe functions.
private enum TrapHandler {
    static let signals: [Int32] = [SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV]
    /// Where the handler stores the signal number.
    nonisolated(unsafe) static var signalWord: UnsafeMutablePointer<Int32>?
    /// The handlers installed before ours, indexed by signal number (allocated once, never freed).
    nonisolated(unsafe) static var previous: UnsafeMutablePointer<sigaction>?
    static let installed = Mutex(false)

    static func install(signalWord word: UnsafeMutablePointer<Int32>) {
        installed.withLock { installed in
            signalWord = word
            guard !installed else { return }
            installed = true
            let saved = UnsafeMutablePointer<sigaction>.allocate(capacity: 32)
            saved.initialize(repeating: sigaction(), count: 32)
            previous = saved
            for signal in signals {
                var action = sigaction()
                #if canImport(Glibc)
                action.__sigaction_handler.sa_sigaction = handle
                #else
                action.__sigaction_u.__sa_sigaction = handle
                #endif
                action.sa_flags = SA_SIGINFO | SA_ONSTACK
                sigemptyset(&action.sa_mask)
                _ = sigaction(signal, &action, saved + Int(signal))
            }
        }
    }

    static let handle: @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = {
        signal,
        info,
        context in
        TrapHandler.signalWord?.pointee = signal
        if signal > 0, signal < 32, let saved = TrapHandler.previous?[Int(signal)], saved.sa_flags & SA_SIGINFO != 0 {
            #if canImport(Glibc)
            let chained = saved.__sigaction_handler.sa_sigaction
            #else
            let chained = saved.__sigaction_u.__sa_sigaction
            #endif
            chained?(signal, info, context)
        }
        // The default action ends the process (with a core dump where enabled).
        var fallback = sigaction()
        sigemptyset(&fallback.sa_mask)
        _ = sigaction(signal, &fallback, nil)
        raise(signal)
    }
}
