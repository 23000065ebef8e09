import Crypto
import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// Operators' edits of an object's state (`POST /services/{service}/state`, `keel state set|clear`).
extension PartitionProcessor {
    /// Replaces the whole state of `object` with `entries` (empty clears it), when its current state has
    /// `expectedVersion` (nil: whatever it is). The edit holds the object's lock while it reads, checks and
    /// stores, so no exclusive handler runs on the object meanwhile; while a handler holds the lock or waits for
    /// it the edit is refused (409), and a stale version is refused (409) with nothing changed. Returns the new
    /// state's version.
    func replaceState(
        of object: ObjectAddress,
        with entries: [StateEntry],
        expectedVersion: String?
    ) async throws -> String {
        let editor = InvocationID(partitionKey: 0, uuid: UInt128.random(in: 0...UInt128.max))
        guard lifecycle.beginStateEdit(object, editor: editor) else {
            let holder =
                lifecycle.locks.holder(of: object).map { " (\($0) holds its lock)" } ?? " (invocations wait for it)"
            throw EngineError(
                .conflict,
                "\(object) is in use\(holder); edit its state when no invocation runs on it"
            )
        }
        do {
            let current: [StateEntry]
            do {
                current = try await store.state(of: object)
            } catch {
                throw EngineError.storage(error)
            }
            let version = StateVersion.of(current)
            if let expectedVersion, expectedVersion != version {
                throw EngineError(
                    .conflict,
                    "the state of \(object) changed since version \(expectedVersion) (it is \(version) now); read it again and redo the edit"
                )
            }
            let operations: [StoreOperation] =
                [.clearAllState(object)] + entries.map { .setState(object, name: $0.name, value: $0.value) }
            try await writer.commit(operations, for: nil)
            _ = stateCache.take(object)
            perform(lifecycle.endStateEdit(object, editor: editor))
            return StateVersion.of(entries)
        } catch {
            perform(lifecycle.endStateEdit(object, editor: editor))
            throw error
        }
    }
}

/// The version of an object's state, as Restate computes it for its state edits: SHA-256 over the entries in
/// key order, each hashed as its index (8 bytes, big-endian), 0x01, the key, 0x02, the value, 0x03; written in
/// base64url without padding. Equal states have equal versions, so an edit made from a state read earlier
/// is refused when the state changed since.
public enum StateVersion {
    public static func of(_ entries: [StateEntry]) -> String {
        var hasher = SHA256()
        let sorted = entries.sorted { $0.name.lexicographicallyPrecedes($1.name) }
        for (index, entry) in sorted.enumerated() {
            withUnsafeBytes(of: UInt64(index).bigEndian) { hasher.update(bufferPointer: $0) }
            hasher.update(data: [0x01])
            hasher.update(data: entry.name)
            hasher.update(data: [0x02])
            hasher.update(data: entry.value)
            hasher.update(data: [0x03])
        }
        return RequestIdentity.base64URL(Data(hasher.finalize()))
    }
}
