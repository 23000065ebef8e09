import Crypto
import Foundation

/// Where an object's invocations live: its key's partition key, the first 8 bytes of SHA-256 over the key,
/// big-endian. Stable across processes and restarts (unlike `Hasher`), so one object key always lands in one
/// partition, whatever node computes it.
public enum PartitionKeys {
    public static func forObjectKey(_ key: String) -> UInt64 {
        var value: UInt64 = 0
        for byte in SHA256.hash(data: Data(key.utf8)).prefix(8) { value = value << 8 | UInt64(byte) }
        return value
    }
}
