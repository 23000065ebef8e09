import Foundation
import Synchronization

/// A random number generator seeded from the invocation: the same numbers on every replay.
///
/// xoshiro256++ expanded from the seed with SplitMix64. Copies share one sequence, so `ctx.random` can be
/// passed around like any `RandomNumberGenerator`.
public struct DeterministicRandom: RandomNumberGenerator, Sendable {
    private let state: SharedState

    init(seed: UInt64) {
        state = SharedState(seed: seed)
    }

    public mutating func next() -> UInt64 {
        state.next()
    }

    /// A version-4 UUID drawn from this generator.
    public mutating func uuid() -> UUID {
        var bytes = [UInt8]()
        for word in [next(), next()] {
            withUnsafeBytes(of: word.littleEndian) { bytes.append(contentsOf: $0) }
        }
        bytes[6] = bytes[6] & 0x0F | 0x40
        bytes[8] = bytes[8] & 0x3F | 0x80
        return UUID(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            )
        )
    }

    private final class SharedState: Sendable {
        private let words: Mutex<(UInt64, UInt64, UInt64, UInt64)>

        init(seed: UInt64) {
            var splitMix = seed
            func nextSplitMix() -> UInt64 {
                splitMix &+= 0x9E37_79B9_7F4A_7C15
                var z = splitMix
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return z ^ (z >> 31)
            }
            words = Mutex((nextSplitMix(), nextSplitMix(), nextSplitMix(), nextSplitMix()))
        }

        func next() -> UInt64 {
            words.withLock { s in
                let result = rotate(s.0 &+ s.3, 23) &+ s.0
                let t = s.1 << 17
                s.2 ^= s.0
                s.3 ^= s.1
                s.1 ^= s.2
                s.0 ^= s.3
                s.2 ^= t
                s.3 = rotate(s.3, 45)
                return result
            }
        }

        private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 {
            (x << k) | (x >> (64 - k))
        }
    }
}
