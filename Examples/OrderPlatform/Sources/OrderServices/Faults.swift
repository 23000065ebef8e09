import Foundation
import Synchronization

/// A service's fault switches, set at start (flags) and changed while it runs (`POST /_faults`).
struct Faults: Codable, Sendable, Equatable {
    /// Every request waits this long first (ms).
    var latencyMs: Int = 0
    /// A share of requests answered 500 before anything is recorded (0…1).
    var errorRate: Double = 0
    /// A share of requests whose effect is recorded, then answered only after `hangMs`: the caller times out
    /// and never learns the effect happened (0…1).
    var timeoutRate: Double = 0
    var hangMs: Int = 10_000
    /// Until this moment (ms since the epoch) every request gets 503: the service is down.
    var downUntilMs: Int64 = 0
    /// Payments decline the cards whose id starts with this.
    var declinePrefix: String = "pm_decline"

    init() {}

    /// Any switch left out keeps its default.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        latencyMs = try container.decodeIfPresent(Int.self, forKey: .latencyMs) ?? 0
        errorRate = try container.decodeIfPresent(Double.self, forKey: .errorRate) ?? 0
        timeoutRate = try container.decodeIfPresent(Double.self, forKey: .timeoutRate) ?? 0
        hangMs = try container.decodeIfPresent(Int.self, forKey: .hangMs) ?? 10_000
        downUntilMs = try container.decodeIfPresent(Int64.self, forKey: .downUntilMs) ?? 0
        declinePrefix = try container.decodeIfPresent(String.self, forKey: .declinePrefix) ?? "pm_decline"
    }

    /// Refuses switches out of range, naming them.
    func validated() throws -> Faults {
        guard (0...1).contains(errorRate), (0...1).contains(timeoutRate) else {
            throw FaultsError("errorRate and timeoutRate are shares between 0 and 1")
        }
        guard (0...600_000).contains(latencyMs), (0...600_000).contains(hangMs) else {
            throw FaultsError("latencyMs and hangMs are between 0 and 600000")
        }
        return self
    }
}

struct FaultsError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The switches in effect, shared by the request handlers.
final class FaultSwitches: Sendable {
    private let current: Mutex<Faults>

    init(_ faults: Faults) { current = Mutex(faults) }

    var faults: Faults {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }

    /// What happens to one request: wait, fail at once, or go on (maybe to hang after its effect).
    func decide(now: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) -> Decision {
        let faults = self.faults
        if now < faults.downUntilMs { return .down }
        if faults.errorRate > 0, Double.random(in: 0..<1) < faults.errorRate {
            return .error(latencyMs: faults.latencyMs)
        }
        let hang = faults.timeoutRate > 0 && Double.random(in: 0..<1) < faults.timeoutRate
        return .proceed(latencyMs: faults.latencyMs, hangAfterEffectMs: hang ? faults.hangMs : nil)
    }

    enum Decision {
        case down
        case error(latencyMs: Int)
        case proceed(latencyMs: Int, hangAfterEffectMs: Int?)
    }
}
