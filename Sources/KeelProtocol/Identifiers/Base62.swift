/// Restate's "alternative" base62 alphabet: digits, then lowercase, then uppercase letters.
enum Base62 {
    static let alphabet: [UInt8] = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)

    static func digit(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): character - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): character - UInt8(ascii: "A") + 36
        default: nil
        }
    }

    /// Encodes `value` left-padded with `0` to `width` characters.
    static func encode(_ value: UInt128, width: Int) -> [UInt8] {
        var digits = [UInt8](repeating: alphabet[0], count: width)
        var rest = value
        var position = width - 1
        while rest > 0 && position >= 0 {
            digits[position] = alphabet[Int(rest % 62)]
            rest /= 62
            position -= 1
        }
        return digits
    }

    /// Decodes a fixed-width field; nil on a foreign character or a value wider than `maxBits`.
    static func decode(_ characters: some Collection<UInt8>, maxBits: Int) -> UInt128? {
        var value: UInt128 = 0
        let limit: UInt128 = maxBits >= 128 ? .max : (UInt128(1) << maxBits) - 1
        for character in characters {
            guard let digit = digit(character) else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 62)
            let (sum, overflow2) = shifted.addingReportingOverflow(UInt128(digit))
            guard !overflow1, !overflow2, sum <= limit else { return nil }
            value = sum
        }
        return value
    }
}
