/// Conversions of durations and sums of timestamps that saturate at `Int64`'s bounds instead of trapping:
/// durations come from requests, manifests and frames, and an absurd one must not take the process down.
extension Duration {
    /// Whole milliseconds (rounded towards zero), clamped to `Int64`.
    public var saturatingMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000)
        if overflow { return seconds < 0 ? .min : .max }
        return whole.saturatingAdding(attoseconds / 1_000_000_000_000_000)
    }

    /// Whole nanoseconds (rounded towards zero), clamped to `Int64`.
    public var saturatingNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return whole.saturatingAdding(attoseconds / 1_000_000_000)
    }
}

extension Int64 {
    /// `self + other`, clamped to `Int64`'s bounds.
    public func saturatingAdding(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        if overflow { return other > 0 ? .max : .min }
        return sum
    }

    /// `self - other`, clamped to `Int64`'s bounds.
    public func saturatingSubtracting(_ other: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(other)
        if overflow { return other > 0 ? .min : .max }
        return difference
    }

    /// `self × factor`, clamped to `Int64`'s bounds.
    public func saturatingMultiplied(by factor: Int64) -> Int64 {
        let (product, overflow) = multipliedReportingOverflow(by: factor)
        if overflow { return (self < 0) != (factor < 0) ? .min : .max }
        return product
    }

    /// Division rounding towards negative infinity (`-1 / 1000` is -1); `divisor` must not be 0.
    public func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
