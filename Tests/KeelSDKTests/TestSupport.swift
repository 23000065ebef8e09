import Foundation

/// The wall clock in milliseconds, as the SDK computes wake-up times.
func nowMilliseconds() -> UInt64 {
    UInt64((Date().timeIntervalSince1970 * 1000).rounded())
}

/// A plain (retryable) error for handlers under test.
struct Boom: Error, CustomStringConvertible {
    var description: String { "boom" }
}
