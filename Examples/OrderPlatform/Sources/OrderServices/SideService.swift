import Foundation
import GRDB
import Hummingbird
import NIOCore
import OrderPlatformKit

/// The platform's outside services, each a small HTTP server with its own ledger. Every effect is idempotent by
/// the key the caller sends (the order id), as real payment and email providers are; the ledgers still record
/// every request, so the audit sees retries.
enum SideService: String, CaseIterable, Sendable {
    case inventory, payments, email, loyalty, orders

    /// The ledger's tables besides `requests`.
    var schema: [String] {
        switch self {
        case .inventory:
            [
                """
                CREATE TABLE IF NOT EXISTS reservations (
                    reservation_id TEXT PRIMARY KEY, order_id TEXT NOT NULL UNIQUE, items TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('reserved', 'released')), at INTEGER NOT NULL)
                """
            ]
        case .payments:
            [
                """
                CREATE TABLE IF NOT EXISTS charges (
                    idempotency_key TEXT PRIMARY KEY, charge_id TEXT NOT NULL UNIQUE, order_id TEXT NOT NULL,
                    user_id TEXT NOT NULL, amount INTEGER NOT NULL, payment_method TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('charged', 'declined')), at INTEGER NOT NULL)
                """,
                "CREATE TABLE IF NOT EXISTS refunds (charge_id TEXT PRIMARY KEY, at INTEGER NOT NULL)",
            ]
        case .email:
            [
                """
                CREATE TABLE IF NOT EXISTS emails (
                    idempotency_key TEXT PRIMARY KEY, order_id TEXT NOT NULL, recipient TEXT NOT NULL,
                    template TEXT NOT NULL, at INTEGER NOT NULL)
                """
            ]
        case .loyalty:
            [
                """
                CREATE TABLE IF NOT EXISTS points (
                    idempotency_key TEXT PRIMARY KEY, order_id TEXT NOT NULL, user_id TEXT NOT NULL,
                    points INTEGER NOT NULL, at INTEGER NOT NULL)
                """
            ]
        case .orders:
            [
                """
                CREATE TABLE IF NOT EXISTS orders (
                    order_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, charge_id TEXT NOT NULL,
                    reservation_id TEXT NOT NULL, total INTEGER NOT NULL, at INTEGER NOT NULL)
                """
            ]
        }
    }

    /// The service's routes: its effects, `GET /health`, and the fault switches at `/_faults`.
    func router(ledger: Ledger, faults: FaultSwitches) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("health") { _, _ in "ok" }
        router.get("_faults") { _, _ in try Reply.json(faults.faults) }
        router.post("_faults") { request, context in
            do {
                let body = try await request.body.collect(upTo: 64 * 1024)
                faults.faults = try JSONDecoder().decode(Faults.self, from: Data(buffer: body)).validated()
                return try Reply.json(faults.faults)
            } catch {
                return Reply.error(.badRequest, "bad fault switches: \(error)")
            }
        }
        let effects = Effects(ledger: ledger, faults: faults)
        switch self {
        case .inventory:
            effects.add("reserve", to: router, body: Wire.Reserve.self, key: \.orderId, Inventory.reserve)
            effects.add("release", to: router, body: Wire.Release.self, key: \.reservationId, Inventory.release)
        case .payments:
            effects.add("charge", to: router, body: Wire.Charge.self, key: \.idempotencyKey) { body, db in
                try Payments.charge(body, db, declinePrefix: faults.faults.declinePrefix)
            }
            effects.add("refund", to: router, body: Wire.Refund.self, key: \.chargeId, Payments.refund)
        case .email:
            effects.add("send", to: router, body: Wire.Send.self, key: \.idempotencyKey, Email.send)
        case .loyalty:
            effects.add("points", to: router, body: Wire.AddPoints.self, key: \.idempotencyKey, Loyalty.add)
        case .orders:
            effects.add("confirm", to: router, body: Wire.Confirm.self, key: \.orderId, OrdersDB.confirm)
        }
        return router
    }
}

/// What an effect answers: a status and a JSON body.
struct EffectReply: Sendable {
    var status: HTTPResponse.Status
    var body: [String: String]
    /// How the request is recorded in the ledger.
    var outcome: String

    static func ok(_ body: [String: String]) -> EffectReply { EffectReply(status: .ok, body: body, outcome: "ok") }
}

/// Runs effects under the fault switches and records every request.
struct Effects: Sendable {
    let ledger: Ledger
    let faults: FaultSwitches

    func add<Body: Decodable & Sendable>(
        _ route: String,
        to router: Router<BasicRequestContext>,
        body: Body.Type,
        key: KeyPath<Body, String> & Sendable,
        _ effect: @escaping @Sendable (Body, Database) throws -> EffectReply
    ) {
        router.post(RouterPath(stringLiteral: route)) { request, _ in
            switch faults.decide() {
            case .down:
                try await ledger.request(route, key: nil, outcome: "down")
                return Reply.error(.serviceUnavailable, "\(route): the service is down")
            case .error(let latency):
                try await Task.sleep(for: .milliseconds(latency))
                try await ledger.request(route, key: nil, outcome: "error")
                return Reply.error(.internalServerError, "\(route): injected failure")
            case .proceed(let latency, let hang):
                try await Task.sleep(for: .milliseconds(latency))
                let decoded: Body
                do {
                    let bytes = try await request.body.collect(upTo: 1024 * 1024)
                    decoded = try JSONDecoder().decode(Body.self, from: Data(buffer: bytes))
                } catch {
                    try await ledger.request(route, key: nil, outcome: "refused")
                    return Reply.error(.badRequest, "\(route): bad request body: \(error)")
                }
                let reply: EffectReply
                do {
                    reply = try await ledger.database.write { db in try effect(decoded, db) }
                } catch let refusal as Refusal {
                    try await ledger.request(route, key: decoded[keyPath: key], outcome: "refused")
                    return Reply.error(refusal.status, refusal.message)
                }
                try await ledger.request(
                    route,
                    key: decoded[keyPath: key],
                    outcome: hang == nil ? reply.outcome : "hung"
                )
                // The effect is recorded; the caller gives up before it hears so.
                if let hang { try await Task.sleep(for: .milliseconds(hang)) }
                return try Reply.json(reply.body, status: reply.status)
            }
        }
    }
}

/// A request the service refuses (unknown reservation, bad amount): 4xx, nothing recorded as an effect.
struct Refusal: Error {
    var status: HTTPResponse.Status
    var message: String
}

enum Reply {
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(value)))
        )
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let body = (try? JSONEncoder().encode(["error": message])) ?? Data()
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}

func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
