import Foundation
import KeelEngine
import KeelStore

/// The event endpoints' JSON: Keel's `POST /restate/events` and Hatchet's `POST /api/v1/events`.
enum EventBodies {
    /// Reads a publish body. Keel's shape: `{"name", "data"?, "key"?, "id"?}`; Hatchet's: `{"key": name,
    /// "data", "additionalMetadata"?}`. An `idempotency-key` header is the id when the body has none.
    static func event(from body: Data, hatchet: Bool, idempotencyKey: String?) throws -> Engine.Event {
        let example =
            hatchet
            ? #"{"key": "order:completed", "data": {"orderId": "o1"}}"#
            : #"{"name": "order:completed", "data": {"orderId": "o1"}, "key": "user-1"}"#
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            throw EngineError(.badRequest, "an event must be a JSON object like \(example)")
        }
        func text(_ field: String) throws -> String? {
            guard let value = object[field], !(value is NSNull) else { return nil }
            guard let string = value as? String else {
                throw EngineError(.badRequest, "the event's \"\(field)\" must be a string, as in \(example)")
            }
            return string
        }
        func json(_ field: String) throws -> Data? {
            guard let value = object[field] else { return nil }
            return try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])
        }
        let nameField = hatchet ? "key" : "name"
        guard let name = try text(nameField), !name.isEmpty else {
            throw EngineError(.badRequest, "the event has no \"\(nameField)\" (its name), as in \(example)")
        }
        let data = try json("data")
        if hatchet, data == nil {
            throw EngineError(.badRequest, "the event has no \"data\", which Hatchet's API requires: \(example)")
        }
        var metadata: Data?
        if hatchet, let additional = object["additionalMetadata"], !(additional is NSNull) {
            guard additional is [String: Any] else {
                throw EngineError(.badRequest, "\"additionalMetadata\" must be a JSON object")
            }
            metadata = try json("additionalMetadata")
        }
        return Engine.Event(
            name: name,
            data: data ?? Data("null".utf8),
            key: hatchet ? nil : try text("key"),
            id: (hatchet ? nil : try text("id")) ?? idempotencyKey,
            metadata: metadata
        )
    }
}
