/// A failure to speak the service invocation protocol: a malformed stream, a message that cannot be
/// decoded, a journal that does not match, a feature the negotiated version lacks.
///
/// The ``code`` is what goes into `ErrorMessage.code` when an endpoint reports the failure to the runtime.
public struct ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A numeric error code, in the HTTP-like space Restate uses for `ErrorMessage.code` and `Failure.code`.
    public struct Code: RawRepresentable, Hashable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
        public let rawValue: UInt16

        public init(rawValue: UInt16) {
            self.rawValue = rawValue
        }

        public init(integerLiteral value: UInt16) {
            self.init(rawValue: value)
        }

        public var description: String { String(rawValue) }

        /// A frame's payload is longer than the reader accepts.
        public static let frameTooLarge: Code = 413
        /// The peer asked for a protocol version this side does not speak.
        public static let unsupportedProtocolVersion: Code = 415
        /// A replayed command differs from the one the handler produced this time: the handler is not deterministic.
        public static let journalMismatch: Code = 570
        /// The peer broke the protocol: bad framing, an undecodable message, a message out of place.
        public static let protocolViolation: Code = 571
        /// The handler awaited two results at once where only one may be awaited.
        public static let awaitingTwoAsyncResults: Code = 572
        /// The handler used a feature the negotiated protocol version lacks.
        public static let unsupportedFeature: Code = 573
    }

    public var code: Code
    /// What went wrong, in words that suggest what to change.
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "protocol error \(code): \(message)" }
}
