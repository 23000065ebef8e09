import Foundation

/// Wall-clock milliseconds since the UNIX epoch, the unit of every stored timestamp.
enum EngineClock {
    static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}
