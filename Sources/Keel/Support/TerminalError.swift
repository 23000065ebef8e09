import KeelProtocol

/// An error that ends an invocation (or a `ctx.run` step) without retry; the caller sees its code and message.
///
/// Throw any other error to fail the attempt instead: Keel retries it with backoff.
public struct TerminalError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    /// An HTTP-like status; the ingress answers with it. Defaults to 500.
    public var code: UInt16
    public var metadata: [String: String]

    public init(_ message: String, code: UInt16 = 500, metadata: [String: String] = [:]) {
        self.message = message
        self.code = code
        self.metadata = metadata
    }

    public var description: String { "TerminalError(\(code)): \(message)" }

    var protocolFailure: PBFailure {
        PBFailure.with {
            $0.code = UInt32(code)
            $0.message = message
            $0.metadata = metadata.sorted { $0.key < $1.key }.map { entry in
                PBFailureMetadata.with {
                    $0.key = entry.key
                    $0.value = entry.value
                }
            }
        }
    }
}
