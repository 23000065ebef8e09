import Crypto
import Foundation
import KeelCore
import KeelProtocol

/// How Keel derives partition keys, deterministic invocation ids and random seeds.
enum IdentityDerivation {
    /// Stable across processes and restarts (unlike `Hasher`), so one object key always lands in one partition.
    static func partitionKey(forObjectKey key: String) -> UInt64 {
        prefix64(SHA256.hash(data: Data(key.utf8)))
    }

    /// The id of an idempotent request: the same service, key, handler and idempotency key give the same id,
    /// which is how duplicates find the first invocation.
    static func idempotentID(target: InvocationTarget, idempotencyKey: String) -> InvocationID {
        var material = Data("ik".utf8)
        for part in [target.service, target.key, target.handler, idempotencyKey] {
            guard let part else { continue }
            material.append(0x2C)
            material.append(contentsOf: part.utf8)
        }
        let partitionKey = target.key.map(partitionKey(forObjectKey:)) ?? partitionKey(forObjectKey: idempotencyKey)
        let digest = Array(SHA256.hash(data: material))
        var uuid: UInt128 = 0
        for byte in digest.prefix(16) { uuid = uuid << 8 | UInt128(byte) }
        return InvocationID(partitionKey: partitionKey, uuid: uuid)
    }

    /// `StartMessage.random_seed`: the first 8 bytes of SHA-256 over the binary id, as V5 SDKs compute it too.
    static func randomSeed(for id: InvocationID) -> UInt64 {
        prefix64(SHA256.hash(data: Data(id.bytes)))
    }

    private static func prefix64(_ digest: SHA256.Digest) -> UInt64 {
        var value: UInt64 = 0
        for byte in Array(digest).prefix(8) { value = value << 8 | UInt64(byte) }
        return value
    }
}
