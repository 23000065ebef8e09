/// Checks that bytes are one JSON value (RFC 8259, any value at the top, UTF-8), without building it.
///
/// The ingress refuses a body whose content type says JSON but which is not; parsing it into objects to find
/// out cost several times the body's size in memory (a 10 MiB string became tens of megabytes). This walks
/// the bytes once and allocates only the stack of open containers.
enum JSONSyntax {
    /// How deeply arrays and objects may nest.
    static let maximumDepth = 512

    /// Nil when `bytes` hold exactly one JSON value (surrounded by whitespace at most); else what is wrong and
    /// at which byte.
    static func problem(in bytes: some Collection<UInt8>) -> String? {
        var scanner = Scanner(bytes: Array(bytes))
        return scanner.check()
    }

    /// Same, for bytes already in contiguous memory.
    static func problem(in bytes: UnsafeRawBufferPointer) -> String? {
        var scanner = Scanner(bytes: bytes)
        return scanner.check()
    }

    private struct Scanner<Bytes: RandomAccessCollection<UInt8>> where Bytes.Index == Int {
        let bytes: Bytes
        var index: Int

        init(bytes: Bytes) {
            self.bytes = bytes
            index = bytes.startIndex
        }

        /// `true` for an object, `false` for an array.
        private var open: [Bool] = []

        mutating func check() -> String? {
            do throws(Problem) {
                try value()
                skipWhitespace()
                guard index == bytes.endIndex else { throw Problem("unexpected data after the JSON value") }
                return nil
            } catch {
                return "\(error.reason) at byte \(index - bytes.startIndex)"
            }
        }

        private struct Problem: Error {
            var reason: String
            init(_ reason: String) { self.reason = reason }
        }

        private var current: UInt8? { index < bytes.endIndex ? bytes[index] : nil }

        private mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
        }

        /// One value, containers iteratively (no recursion, so no stack overflow on deep input).
        private mutating func value() throws(Problem) {
            open.reserveCapacity(16)
            while true {
                skipWhitespace()
                guard let byte = current else { throw Problem("unexpected end of the body") }
                switch byte {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard open.count < JSONSyntax.maximumDepth else {
                        throw Problem("nested deeper than \(JSONSyntax.maximumDepth) levels")
                    }
                    let isObject = byte == UInt8(ascii: "{")
                    index += 1
                    skipWhitespace()
                    if current == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        index += 1
                        break
                    }
                    open.append(isObject)
                    if isObject { try key() }
                    continue
                case UInt8(ascii: "\""): try string()
                case UInt8(ascii: "t"): try literal("true")
                case UInt8(ascii: "f"): try literal("false")
                case UInt8(ascii: "n"): try literal("null")
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
                default: throw Problem("unexpected character")
                }
                // A value ended: close containers, or go on to the next element.
                while let isObject = open.last {
                    skipWhitespace()
                    guard let next = current else { throw Problem("unexpected end of the body") }
                    if next == UInt8(ascii: ",") {
                        index += 1
                        if isObject { try key() }
                        break
                    }
                    guard next == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) else {
                        throw Problem(isObject ? "expected ',' or '}'" : "expected ',' or ']'")
                    }
                    index += 1
                    open.removeLast()
                }
                if open.isEmpty { return }
            }
        }

        /// `"name" :` inside an object.
        private mutating func key() throws(Problem) {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw Problem("expected a string key") }
            try string()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw Problem("expected ':'") }
            index += 1
        }

        private mutating func literal(_ word: StaticString) throws(Problem) {
            let text = UnsafeRawBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
            for expected in text {
                guard current == expected else { throw Problem("invalid literal") }
                index += 1
            }
        }

        private mutating func number() throws(Problem) {
            if current == UInt8(ascii: "-") { index += 1 }
            guard let first = current, Self.isDigit(first) else { throw Problem("invalid number") }
            index += 1
            if first != UInt8(ascii: "0") { digits() }
            if current == UInt8(ascii: ".") {
                index += 1
                guard let byte = current, Self.isDigit(byte) else {
                    throw Problem("invalid number: a digit must follow '.'")
                }
                digits()
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard let byte = current, Self.isDigit(byte) else {
                    throw Problem("invalid number: a digit must follow the exponent")
                }
                digits()
            }
        }

        private mutating func digits() {
            while let byte = current, Self.isDigit(byte) { index += 1 }
        }

        private static func isDigit(_ byte: UInt8) -> Bool {
            byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
        }

        private static func isHex(_ byte: UInt8) -> Bool {
            isDigit(byte) || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "f"))
        }

        /// A string, from its opening quote: escapes, no control characters, valid UTF-8.
        private mutating func string() throws(Problem) {
            index += 1
            while true {
                guard let byte = current else { throw Problem("unterminated string") }
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return
                case UInt8(ascii: "\\"):
                    index += 1
                    guard let escaped = current else { throw Problem("unterminated string") }
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                        UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        index += 1
                    case UInt8(ascii: "u"):
                        index += 1
                        for _ in 0..<4 {
                            guard let hex = current, Self.isHex(hex) else { throw Problem("invalid \\u escape") }
                            index += 1
                        }
                    default:
                        throw Problem("invalid escape")
                    }
                case 0..<0x20:
                    throw Problem("unescaped control character in a string")
                case 0x20..<0x80:
                    index += 1
                default:
                    try utf8Sequence(lead: byte)
                }
            }
        }

        /// One multi-byte UTF-8 sequence (no overlongs, no surrogates, at most U+10FFFF).
        private mutating func utf8Sequence(lead: UInt8) throws(Problem) {
            let count: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: count = 1
            case 0xE0:
                count = 2
                low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: count = 2
            case 0xED:
                count = 2
                high = 0x9F
            case 0xF0:
                count = 3
                low = 0x90
            case 0xF1...0xF3: count = 3
            case 0xF4:
                count = 3
                high = 0x8F
            default: throw Problem("invalid UTF-8")
            }
            index += 1
            for position in 0..<count {
                guard let byte = current else { throw Problem("invalid UTF-8") }
                let (min, max): (UInt8, UInt8) = position == 0 ? (low, high) : (0x80, 0xBF)
                guard byte >= min, byte <= max else { throw Problem("invalid UTF-8") }
                index += 1
            }
        }
    }
}
