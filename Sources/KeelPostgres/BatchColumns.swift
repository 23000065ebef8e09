import Foundation
import KeelCore
import KeelStore
import NIOCore
import PostgresNIO

/// A batch of `StoreOperation`s as the parallel arrays `keel.apply_batch` reads: one element per operation in
/// each array (NULL where the operation has no such value), so the whole batch travels in one statement and one
/// round trip, and the server applies it in order.
///
/// Each operation has a code (`op`) and fills the slots `t1…t12` (text), `n1…n9` (bigint) and `b1…b2` (bytea)
/// as `PostgresStore.applyBatchFunction` reads them.
struct BatchColumns {
    private(set) var op = ColumnArray(.int2)
    private(set) var texts = [ColumnArray](repeating: ColumnArray(.text), count: 12)
    private(set) var numbers = [ColumnArray](repeating: ColumnArray(.int8), count: 9)
    private(set) var bytes = [ColumnArray](repeating: ColumnArray(.bytea), count: 2)
    /// The highest sequence or journal index the batch stores, for `keel.meta.max_sequence`.
    private(set) var maxSequence: Int64?

    init(_ operations: [StoreOperation]) throws {
        for operation in operations { try append(operation) }
    }

    private mutating func append(_ operation: StoreOperation) throws {
        switch operation {
        case .insertInvocation(let record):
            raiseMaxSequence(record.sequence)
            let result = try record.result.map(ResultColumns.init)
            add(
                1,
                t: [
                    record.id.description, record.target.service, record.target.handler, record.target.key,
                    record.handlerKind?.rawValue, record.status.rawValue, record.idempotencyKey.map(PostgresStore.text),
                    record.lastFailure.map(PostgresStore.text), result?.kind,
                    result?.failureMessage.map(PostgresStore.text), result?.failureMetadata, record.deploymentID,
                ],
                n: [
                    Int64(bitPattern: record.id.partitionKey), record.sequence, record.createdAt, record.modifiedAt,
                    record.executeAt, Int64(record.retryCount), result?.failureCode.map(Int64.init),
                    record.completedAt, record.expiresAt,
                ],
                b: [result?.output]
            )
        case .appendJournal(let id, let index, let entry):
            raiseMaxSequence(index)
            add(2, t: [id.description], n: [index, Int64(entry.type)], b: [entry.payload])
        case .updateStatus(let id, let status, let retryCount, let lastFailure, let modifiedAt):
            add(
                3,
                t: [id.description, status.rawValue, lastFailure.map(PostgresStore.text)],
                n: [Int64(retryCount), modifiedAt]
            )
        case .setState(let object, let name, let value):
            add(4, t: [object.service, object.key], b: [name, value])
        case .clearState(let object, let name):
            add(5, t: [object.service, object.key], b: [name])
        case .clearAllState(let object):
            add(6, t: [object.service, object.key])
        case .completeInvocation(let id, let result, let completedAt, let expiresAt):
            let columns = try ResultColumns(result)
            add(
                7,
                t: [
                    id.description, columns.kind, columns.failureMessage.map(PostgresStore.text),
                    columns.failureMetadata,
                ],
                n: [columns.failureCode.map(Int64.init), completedAt, expiresAt],
                b: [columns.output]
            )
        case .deleteInvocation(let id):
            add(8, t: [id.description])
        case .suspend(let id, let knownEntries, let modifiedAt):
            add(9, t: [id.description], n: [Int64(knownEntries), modifiedAt])
        case .updateDeployment(let id, let deploymentID):
            add(10, t: [id.description, deploymentID])
        case .insertTimer(let timer):
            add(11, t: [timer.invocationID.description], n: [Int64(timer.completionID), timer.dueAt])
        case .deleteTimer(let id, let completionID):
            add(12, t: [id.description], n: [Int64(completionID)])
        case .subscribe(let subscription):
            add(
                13,
                t: [subscription.topic.description, subscription.subscriber.description],
                n: [
                    Int64(subscription.completionID), Int64(subscription.notificationType),
                    Int64(bitPattern: subscription.topic.partitionKey),
                ]
            )
        case .deleteSubscriptions(let topic):
            add(14, t: [topic.description])
        case .completePromise(let object, let name, let result):
            let columns = try ResultColumns(result)
            add(
                15,
                t: [
                    object.service, object.key, PostgresStore.text(name), columns.kind,
                    columns.failureMessage.map(PostgresStore.text), columns.failureMetadata,
                ],
                n: [columns.failureCode.map(Int64.init)],
                b: [columns.output]
            )
        case .insertEvent(let event):
            add(
                16,
                t: [
                    PostgresStore.text(event.id), PostgresStore.text(event.name), event.key.map(PostgresStore.text),
                    try StoredColumns.jsonText(event.deliveries),
                ],
                n: [event.delivered ? 1 : 0, event.createdAt, event.expiresAt],
                b: [event.data, event.metadata]
            )
        case .markEventDelivered(let id):
            add(17, t: [PostgresStore.text(id)])
        case .saveScheduleProgress(let id, let progress):
            add(18, t: [id, try StoredColumns.jsonText(progress)])
        case .insertOutbox(let partition, let payload):
            add(19, t: [], n: [Int64(partition)], b: [payload])
        case .deleteOutbox(let id):
            add(20, t: [], n: [id])
        }
    }

    /// One operation: its code and its slots from the first, the rest NULL.
    private mutating func add(_ code: Int16, t: [String?], n: [Int64?] = [], b: [Data?] = []) {
        op.append(int2: code)
        for slot in texts.indices { texts[slot].append(text: slot < t.count ? t[slot] : nil) }
        for slot in numbers.indices { numbers[slot].append(int8: slot < n.count ? n[slot] : nil) }
        for slot in bytes.indices { bytes[slot].append(bytea: slot < b.count ? b[slot] : nil) }
    }

    private mutating func raiseMaxSequence(_ value: Int64) {
        maxSequence = max(maxSequence ?? value, value)
    }

    /// `SELECT keel.apply_batch(…)` with every array bound, fenced by this node's leases when it holds some.
    func query(fence: PartitionFence?) -> PostgresQuery {
        var bindings = PostgresBindings(capacity: 28)
        bindings.append(op)
        for column in texts { bindings.append(column) }
        for column in numbers { bindings.append(column) }
        for column in bytes { bindings.append(column) }
        bindings.append(maxSequence)
        bindings.append(fence?.node)
        let (partitions, epochs) = (fence ?? PartitionFence(node: "", partitions: [], epochs: [])).arrays
        bindings.append(partitions)
        bindings.append(epochs)
        let placeholders = (1...28).map { "$\($0)" }.joined(separator: ", ")
        return PostgresQuery(unsafeSQL: "SELECT keel.apply_batch(\(placeholders))", binds: bindings)
    }
}

/// A one-dimensional PostgreSQL array in the binary wire format, NULL elements allowed (postgres-nio's own
/// array encoding has none): the elements are written as they are appended, the header when the query is sent.
struct ColumnArray: PostgresDynamicTypeEncodable, Sendable {
    enum Element {
        case int2, int8, text, bytea

        var type: PostgresDataType {
            switch self {
            case .int2: .int2
            case .int8: .int8
            case .text: .text
            case .bytea: .bytea
            }
        }

        var arrayType: PostgresDataType {
            switch self {
            case .int2: .int2Array
            case .int8: .int8Array
            case .text: .textArray
            case .bytea: .byteaArray
            }
        }
    }

    let element: Element
    private var elements = ByteBuffer()
    private var count: Int32 = 0
    private var hasNull = false

    init(_ element: Element) {
        self.element = element
    }

    var psqlType: PostgresDataType { element.arrayType }
    var psqlFormat: PostgresFormat { .binary }

    mutating func append(int2 value: Int16) {
        elements.writeInteger(Int32(2))
        elements.writeInteger(value)
        count += 1
    }

    mutating func append(int8 value: Int64?) {
        guard let value else { return appendNull() }
        elements.writeInteger(Int32(8))
        elements.writeInteger(value)
        count += 1
    }

    mutating func append(text value: String?) {
        guard let value else { return appendNull() }
        let lengthIndex = elements.writerIndex
        elements.writeInteger(Int32(0))
        let written = elements.writeString(value)
        elements.setInteger(Int32(truncatingIfNeeded: written), at: lengthIndex)
        count += 1
    }

    mutating func append(bytea value: Data?) {
        guard let value else { return appendNull() }
        elements.writeInteger(Int32(truncatingIfNeeded: value.count))
        elements.writeBytes(value)
        count += 1
    }

    private mutating func appendNull() {
        elements.writeInteger(Int32(-1))
        hasNull = true
        count += 1
    }

    func encode<JSONEncoder: PostgresJSONEncoder>(
        into buffer: inout ByteBuffer,
        context: PostgresEncodingContext<JSONEncoder>
    ) {
        buffer.writeInteger(Int32(count == 0 ? 0 : 1))  // dimensions
        buffer.writeInteger(Int32(hasNull ? 1 : 0))  // has NULLs
        buffer.writeInteger(element.type.rawValue)  // element type
        guard count > 0 else { return }
        buffer.writeInteger(count)  // length of the one dimension
        buffer.writeInteger(Int32(1))  // its lower bound
        buffer.writeImmutableBuffer(elements)
    }
}

/// The leases a write is fenced by: `keel.apply_batch` refuses it (`KL001`) unless every partition's lease row
/// still names this node with the epoch it took.
struct PartitionFence: Sendable, Hashable {
    var node: String
    var partitions: [Int64]
    var epochs: [Int64]

    /// The partitions and their epochs as two parallel `BIGINT[]` binds, for `unnest`.
    var arrays: (partitions: ColumnArray, epochs: ColumnArray) {
        var partitionArray = ColumnArray(.int8)
        var epochArray = ColumnArray(.int8)
        for (partition, epoch) in zip(partitions, epochs) {
            partitionArray.append(int8: partition)
            epochArray.append(int8: epoch)
        }
        return (partitionArray, epochArray)
    }
}
