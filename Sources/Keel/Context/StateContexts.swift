import Foundation
import KeelProtocol

/// A context that reads the state of its object or workflow (shared and exclusive handlers).
public protocol SharedStateContext: KeelContext {}

/// A context that also writes state (exclusive object handlers, workflow `run`).
public protocol StateContext: SharedStateContext {}

extension SharedStateContext {
    /// The object or workflow key this handler runs for.
    public var key: String { _driver.start?.key ?? "" }

    /// The state value of `key`, or nil when absent. Journaled: a replay returns what was read first.
    public func get<Value>(_ key: StateKey<Value>) async throws -> Value? {
        guard let data = try await getRaw(key.name) else { return nil }
        return try JSONSerde.decode(Value.self, from: data)
    }

    /// The state value named `name`, decoded as `type`.
    public func get<Value: Codable & Sendable>(_ name: String, as type: Value.Type = Value.self) async throws -> Value?
    {
        try await get(StateKey<Value>(name))
    }

    /// The names of all state entries.
    public func stateKeys() async throws -> [String] {
        let read = try _driver.perform { try $0.stateKeys() }
        let keys: [Data]
        switch read {
        case .keys(let stored):
            keys = stored
        case .awaitCompletion(let id):
            guard case .stateKeys(let stored) = try await _driver.awaitNotification(.completion(id)) else {
                throw TerminalError("the runtime answered a state-keys read with no keys", code: 571)
            }
            keys = stored
        }
        return keys.map { String(decoding: $0, as: UTF8.self) }.sorted()
    }

    private func getRaw(_ name: String) async throws -> Data? {
        let read = try _driver.perform { try $0.getState(Data(name.utf8)) }
        switch read {
        case .value(let data):
            return data
        case .awaitCompletion(let id):
            switch try await _driver.awaitNotification(.completion(id)) {
            case .value(let data): return data
            case .failure(let code, let message): throw TerminalError(message, code: code)
            default: return nil
            }
        }
    }
}

extension StateContext {
    /// Sets `key` to `value`; stored with this step, visible to later readers once durable.
    public func set<Value>(_ key: StateKey<Value>, _ value: Value) throws {
        let data = try JSONSerde.encode(value)
        try _driver.perform { try $0.setState(Data(key.name.utf8), data) }
    }

    public func set<Value: Codable & Sendable>(_ name: String, _ value: Value) throws {
        try set(StateKey<Value>(name), value)
    }

    public func clear<Value>(_ key: StateKey<Value>) throws {
        try clear(key.name)
    }

    public func clear(_ name: String) throws {
        try _driver.perform { try $0.clearState(Data(name.utf8)) }
    }

    /// Removes every state entry of this object.
    public func clearAll() throws {
        try _driver.perform { try $0.clearAllState() }
    }
}

/// The context of a service handler: steps, randomness, identity; no state.
public struct Context: KeelContext {
    public let _driver: InvocationDriver
}

/// The context of a shared virtual-object handler: reads state, never writes, never waits for the lock.
public struct ObjectSharedContext: SharedStateContext {
    public let _driver: InvocationDriver
}

/// The context of an exclusive virtual-object handler: it holds the key's lock and may write state.
public struct ObjectContext: StateContext {
    public let _driver: InvocationDriver
}
