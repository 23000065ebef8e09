import Foundation
import KeelStore
import PostgresNIO

/// The cluster's outbox (`keel.outbox`): effects stored by one node for the partitions another owns.
extension PostgresStore {
    public func outbox(partitions: Set<Int>, limit: Int) async throws(StoreError) -> [OutboxRecord] {
        guard !partitions.isEmpty, limit > 0 else { return [] }
        var array = ColumnArray(.int8)
        for partition in partitions.sorted() { array.append(int8: Int64(partition)) }
        let rows = try await rows(
            """
            SELECT id, partition, payload FROM keel.outbox WHERE partition = ANY(\(array)) \
            ORDER BY id LIMIT \(Int64(limit))
            """
        )
        return try decoding(rows) { row in
            OutboxRecord(
                id: try row[0].decode(Int64.self),
                partition: Int(try row[1].decode(Int32.self)),
                payload: try row[2].decode(Data.self)
            )
        }
    }

    /// `LISTEN keel_outbox` on a connection of its own (taken from the pool for as long as the stream is
    /// consumed), listening again a second after the connection is lost. With a pool of fewer than 4
    /// connections nothing listens (the engine polls every second): one held for ever would starve the writer.
    public func outboxArrivals() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        guard configuration.poolSize >= 4 else { return stream }
        let client = self.client
        let logger = self.logger
        let listener = Task {
            while !Task.isCancelled {
                do {
                    try await client.withConnection { connection in
                        try await connection.listen(on: Self.outboxChannel) { notifications in
                            continuation.yield()
                            for try await _ in notifications { continuation.yield() }
                        }
                    }
                } catch {
                    guard !Task.isCancelled else { break }
                    logger.debug(
                        "listening for outbox messages failed; listening again",
                        metadata: ["error": "\(error)"]
                    )
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        continuation.onTermination = { _ in listener.cancel() }
        return stream
    }
}
