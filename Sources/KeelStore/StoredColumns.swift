import Foundation
import KeelCore
import KeelProtocol

/// An `InvocationResult` spread over a row's five result columns (kind, output, failure code, message and
/// metadata), the same way in every store, so each reads what the others write.
public struct ResultColumns: Sendable {
    public static let success = "success"
    public static let failure = "failure"

    public var kind: String
    public var output: Data?
    public var failureCode: Int?
    public var failureMessage: String?
    /// JSON object text, so operators can read it with their database's JSON functions.
    public var failureMetadata: String?

    public init(_ result: InvocationResult) throws {
        switch result {
        case .success(let output):
            kind = Self.success
            self.output = output
        case .failure(let failure):
            kind = Self.failure
            failureCode = Int(failure.code)
            failureMessage = failure.message
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            failureMetadata = String(decoding: try encoder.encode(failure.metadata), as: UTF8.self)
        }
    }

    /// The result the five columns hold, nil when `kind` is nil; `owner` names the row in errors.
    public static func result(
        kind: String?,
        output: Data?,
        failureCode: Int64?,
        failureMessage: String?,
        failureMetadata: String?,
        owner: String
    ) throws(StoreError) -> InvocationResult? {
        switch kind {
        case nil:
            return nil
        case success:
            return .success(output ?? Data())
        case failure:
            guard let failureCode, let code = UInt16(exactly: failureCode) else {
                throw StoredColumns.corrupt("\(owner) has failure code \(failureCode.map(String.init) ?? "null")")
            }
            var metadata: [String: String] = [:]
            if let failureMetadata {
                do {
                    metadata = try JSONDecoder().decode([String: String].self, from: Data(failureMetadata.utf8))
                } catch {
                    throw StoredColumns.corrupt("\(owner) has unreadable failure metadata")
                }
            }
            return .failure(Failure(code: code, message: failureMessage ?? "", metadata: metadata))
        case let other?:
            throw StoredColumns.corrupt("\(owner) has unknown result kind '\(other)'")
        }
    }
}

/// Reading back the columns every store keeps as text or integers.
public enum StoredColumns {
    /// The error for a row this build cannot read.
    public static func corrupt(_ what: String) -> StoreError {
        StoreError(.corrupt, "the database holds a row this build cannot read: \(what); restore it from a backup")
    }

    public static func invocationID(_ text: String) throws(StoreError) -> InvocationID {
        guard let id = InvocationID(text) else { throw corrupt("invocation id '\(text)' is not valid") }
        return id
    }

    public static func status(_ text: String, of id: String) throws(StoreError) -> InvocationStatus {
        guard let status = InvocationStatus(rawValue: text) else {
            throw corrupt("invocation \(id) has unknown status '\(text)'")
        }
        return status
    }

    public static func handlerKind(_ text: String?, of id: String) throws(StoreError) -> HandlerKind? {
        guard let text else { return nil }
        guard let kind = HandlerKind(rawValue: text) else {
            throw corrupt("invocation \(id) has unknown handler kind '\(text)'")
        }
        return kind
    }

    /// A journal entry's stored message type.
    public static func entryType(_ value: Int64, of id: InvocationID) throws(StoreError) -> UInt16 {
        guard let code = UInt16(exactly: value) else {
            throw corrupt("journal entry of \(id) has message type \(value)")
        }
        return code
    }

    public static func timer(id: String, completion: Int64, dueAt: Int64) throws(StoreError) -> TimerRecord {
        guard let invocation = InvocationID(id), let completionID = UInt32(exactly: completion) else {
            throw corrupt("timer (\(id), \(completion))")
        }
        return TimerRecord(invocationID: invocation, completionID: completionID, dueAt: dueAt)
    }

    public static func subscription(
        topic: String,
        subscriber: String,
        completion: Int64,
        type: Int64
    ) throws(StoreError) -> Subscription {
        guard let parsedTopic = SubscriptionTopic(topic), let id = InvocationID(subscriber),
            let completionID = UInt32(exactly: completion), let code = UInt16(exactly: type)
        else {
            throw corrupt("subscription (\(topic), \(subscriber), \(completion), \(type))")
        }
        return Subscription(topic: parsedTopic, subscriber: id, completionID: completionID, notificationType: code)
    }

    /// JSON text a store keeps for a value (deliveries, options, schedules), read back or reported as corrupt.
    public static func json<T: Decodable>(_ type: T.Type, _ text: String, what: String) throws(StoreError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw StoreError(.corrupt, "\(what) is unreadable")
        }
    }

    /// JSON text for a value, keys sorted so the same value always reads the same.
    public static func jsonText<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
