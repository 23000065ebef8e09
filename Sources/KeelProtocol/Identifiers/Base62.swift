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
        digits.withUnsafeMutableBufferPointer { write(value, into: $0) }
        return digits
    }

    /// 62¹⁰, the largest power of 62 whose remainders fit in 64 bits with room to spare.
    private static let chunk: UInt128 = 839_299_365_868_340_224

    /// Writes `value` into `digits` (all of it, left-padded with `0`; the most significant digits are dropped
    /// when it does not fit). Ids are encoded for every stored change, so this divides by 62¹⁰ in 128 bits a
    /// few times and takes the digits out of each 64-bit chunk, instead of one 128-bit division per digit.
    static func write(_ value: UInt128, into digits: UnsafeMutableBufferPointer<UInt8>) {
        var rest = value
        var position = digits.count - 1
        while position >= 0 {
            var part = UInt64(rest % chunk)
            rest /= chunk
            for _ in 0..<10 where position >= 0 {
                digits[position] = alphabet[Int(part % 62)]
                part /= 62
                position -= 1
            }
            if rest == 0 {
                while position >= 0 {
                    digits[position] = alphabet[0]
                    position -= 1
                }
            }
        }
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
