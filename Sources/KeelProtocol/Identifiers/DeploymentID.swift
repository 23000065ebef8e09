/// Deployment ids in Restate's format: `dp_1` followed by 22 base62 characters of a random 128-bit number.
public enum DeploymentID {
    public static func generate() -> String {
        RandomID.generate(prefix: "dp_1")
    }

    /// Whether `string` has the shape of a deployment id.
    public static func isValid(_ string: some StringProtocol) -> Bool {
        let utf8 = Array(string.utf8)
        return utf8.count == 26 && string.hasPrefix("dp_1") && Base62.decode(utf8.dropFirst(4), maxBits: 128) != nil
    }
}

/// Random ids with a prefix and 22 base62 characters of a random 128-bit number (deployments, events,
/// subscriptions).
public enum RandomID {
    public static func generate(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let value = UInt128(generator.next() as UInt64) << 64 | UInt128(generator.next() as UInt64)
        return prefix + String(decoding: Base62.encode(value.byteSwapped, width: 22), as: UTF8.self)
    }
}
