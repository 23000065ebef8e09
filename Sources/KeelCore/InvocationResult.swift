import Foundation

/// A terminal failure: it ends an invocation (or a step) without retry and is what the caller sees.
public struct Failure: Error, Hashable, Sendable, Codable {
    public var code: UInt16
    public var message: String
    public var metadata: [String: String]

    public init(code: UInt16, message: String, metadata: [String: String] = [:]) {
        self.code = code
        self.message = message
        self.metadata = metadata
    }
}

/// How an invocation ended.
public enum InvocationResult: Hashable, Sendable {
    case success(Data)
    case failure(Failure)
}
