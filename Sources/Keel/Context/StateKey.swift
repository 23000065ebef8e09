/// A typed name for one entry of an object's or workflow's state.
///
/// ```swift
/// static let items = StateKey<[CartItem]>("items")
/// ```
public struct StateKey<Value: Codable & Sendable>: Hashable, Sendable {
    public let name: String

    public init(_ name: String) {
        self.name = name
    }
}
