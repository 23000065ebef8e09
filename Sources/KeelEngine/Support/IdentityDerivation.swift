import Crypto
import Foundation
import KeelCore
import KeelProtocol

/// How Keel derives partition keys, deterministic invocation ids and random seeds.
enum IdentityDerivation {
    /// Stable across processes and restarts (unlike `Hasher`), so one object key always lands in one partition.
    static func partitionKey(forObjectKey key: String) -> UInt64 {
        PartitionKeys.forObjectKey(key)
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

    /// The id of a workflow's `run`: one per workflow key, so a second submission finds the first.
    static func workflowID(service: String, key: String) -> InvocationID {
        idempotentID(target: InvocationTarget(service: service, handler: "", key: key), idempotencyKey: "workflow-run")
    }

    /// The id a new invocation of `resolved` gets: derived from the request when it must be found again
    /// (an idempotency key, a workflow run), random otherwise, in the partition of its object key.
    /// `randomKey`: the partition key of an invocation that has no key of its own (a plain call without an
    /// idempotency key): on a cluster, one that lands on a partition this node runs.
    static func invocationID(
        for resolved: ServiceRegistry.Resolved,
        idempotencyKey: String?,
        randomKey: () -> UInt64 = { UInt64.random(in: .min ... .max) }
    ) -> InvocationID {
        let target = resolved.target
        if resolved.handlerKind == .workflow, let key = target.key {
            return workflowID(service: target.service, key: key)
        }
        if let idempotencyKey {
            return idempotentID(target: target, idempotencyKey: idempotencyKey)
        }
        let partitionKey = target.key.map(partitionKey(forObjectKey:)) ?? randomKey()
        return InvocationID.generate(partitionKey: partitionKey, nowMilliseconds: UInt64(clamping: SystemClock().now()))
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
