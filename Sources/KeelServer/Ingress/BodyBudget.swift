import Hummingbird
import KeelEngine
import NIOCore
import Synchronization

/// The bytes of request bodies that all ingress requests together may hold in memory (`--max-inflight-bytes`).
///
/// Each request reserves its body as it is read (its whole `content-length` up front when it has one) and
/// gives it back when its response is ready. A request that cannot reserve is answered 503 with
/// `retry-after` at once, before the rest of its body is read: a few hundred clients sending large bodies
/// get clear errors instead of exhausting memory.
final class BodyBudget: Sendable {
    let limit: Int
    private let used = Mutex(0)

    init(limit: Int) {
        self.limit = max(0, limit)
    }

    var inUse: Int { used.withLock { $0 } }

    /// Takes `bytes` (≥ 0) if they fit.
    func reserve(_ bytes: Int) -> Bool {
        used.withLock { used in
            guard bytes >= 0, bytes <= limit - used else { return false }
            used += bytes
            return true
        }
    }

    func release(_ bytes: Int) {
        used.withLock { $0 = max(0, $0 - max(0, bytes)) }
    }
}

/// One request's share of the `BodyBudget`, given back by `release()`.
final class BodyReservation: Sendable {
    private let budget: BodyBudget?
    private let held = Mutex(0)

    init(_ budget: BodyBudget?) {
        self.budget = budget
    }

    /// Grows the share to `total` bytes, or throws the 503 that tells the client to come back.
    func grow(to total: Int) throws(EngineError) {
        guard let budget else { return }
        try held.withLock { (held: inout Int) throws(EngineError) in
            guard total > held else { return }
            guard budget.reserve(total - held) else {
                throw EngineError(
                    .unavailable,
                    "the server holds too many request bodies at once (\(budget.limit) bytes in flight, --max-inflight-bytes); retry in a moment"
                )
            }
            held = total
        }
    }

    func release() {
        let bytes = held.withLock { held in
            defer { held = 0 }
            return held
        }
        budget?.release(bytes)
    }
}

extension Request {
    /// The whole body, at most `limit` bytes (413 above, without reading further when `content-length` says
    /// so), counted against `reservation` as it arrives, in one buffer sized from `content-length`.
    func collectBody(upTo limit: Int, reservation: BodyReservation) async throws -> ByteBuffer {
        let tooLarge = HTTPRefusal.payloadTooLarge(limit: limit)
        let declared = headers[.contentLength].flatMap { Int($0) }
        if let declared {
            guard declared <= limit else { throw tooLarge }
            try reservation.grow(to: max(0, declared))
        }
        var buffer = ByteBufferAllocator().buffer(capacity: max(0, min(declared ?? 0, limit)))
        for try await var chunk in body {
            let (total, overflow) = buffer.readableBytes.addingReportingOverflow(chunk.readableBytes)
            guard !overflow, total <= limit else { throw tooLarge }
            try reservation.grow(to: total)
            buffer.writeBuffer(&chunk)
        }
        return buffer
    }
}
