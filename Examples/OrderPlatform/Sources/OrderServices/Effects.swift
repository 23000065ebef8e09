import Foundation
import GRDB

/// One item of an order, as the seed's `OrderRequest` has it (price in cents).
struct OrderItem: Codable, Sendable {
    var productId: String
    var quantity: Int
    var price: Int
}

enum Inventory {
    struct Reserve: Codable, Sendable {
        var orderId: String
        var items: [OrderItem]
    }

    struct Release: Codable, Sendable {
        var reservationId: String
    }

    /// Reserves the items for the order, once: a repeated request gets the same reservation.
    static func reserve(_ body: Reserve, _ db: Database) throws -> EffectReply {
        guard !body.orderId.isEmpty, !body.items.isEmpty else {
            throw Refusal(status: .badRequest, message: "an order id and at least one item are required")
        }
        let id = "res_\(body.orderId)"
        let items = String(decoding: try JSONEncoder().encode(body.items), as: UTF8.self)
        try db.execute(
            sql: """
                INSERT INTO reservations (reservation_id, order_id, items, status, at) VALUES (?, ?, ?, 'reserved', ?)
                ON CONFLICT (reservation_id) DO NOTHING
                """,
            arguments: [id, body.orderId, items, now()]
        )
        return .ok(["id": id])
    }

    /// Releases a reservation (a compensation); releasing twice is fine.
    static func release(_ body: Release, _ db: Database) throws -> EffectReply {
        try db.execute(
            sql: "UPDATE reservations SET status = 'released', at = ? WHERE reservation_id = ?",
            arguments: [now(), body.reservationId]
        )
        guard db.changesCount > 0 else {
            throw Refusal(status: .notFound, message: "no reservation \(body.reservationId)")
        }
        return .ok(["released": body.reservationId])
    }
}

enum Payments {
    struct Charge: Codable, Sendable {
        var orderId: String
        var userId: String
        var amount: Int
        var paymentMethodId: String
        var idempotencyKey: String
    }

    struct Refund: Codable, Sendable {
        var chargeId: String
    }

    /// Charges the card once per idempotency key; a repeated request gets the first answer (the charge, or the
    /// decline). Cards whose id starts with the decline prefix are declined (402).
    static func charge(_ body: Charge, _ db: Database, declinePrefix: String) throws -> EffectReply {
        guard body.amount > 0, !body.idempotencyKey.isEmpty else {
            throw Refusal(status: .badRequest, message: "a positive amount and an idempotency key are required")
        }
        let declined = !declinePrefix.isEmpty && body.paymentMethodId.hasPrefix(declinePrefix)
        try db.execute(
            sql: """
                INSERT INTO charges (idempotency_key, charge_id, order_id, user_id, amount, payment_method, status, at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING
                """,
            arguments: [
                body.idempotencyKey, "ch_\(body.idempotencyKey)", body.orderId, body.userId, body.amount,
                body.paymentMethodId, declined ? "declined" : "charged", now(),
            ]
        )
        let row = try Row.fetchOne(
            db,
            sql: "SELECT charge_id, status FROM charges WHERE idempotency_key = ?",
            arguments: [body.idempotencyKey]
        )
        let chargeID: String = row?["charge_id"] ?? ""
        if row?["status"] == "declined" {
            return EffectReply(status: .init(code: 402), body: ["error": "card declined"], outcome: "declined")
        }
        return .ok(["chargeId": chargeID])
    }

    static func refund(_ body: Refund, _ db: Database) throws -> EffectReply {
        guard
            try Bool.fetchOne(
                db,
                sql: "SELECT 1 FROM charges WHERE charge_id = ? AND status = 'charged'",
                arguments: [body.chargeId]
            ) == true
        else {
            throw Refusal(status: .notFound, message: "no charge \(body.chargeId)")
        }
        try db.execute(
            sql: "INSERT INTO refunds (charge_id, at) VALUES (?, ?) ON CONFLICT (charge_id) DO NOTHING",
            arguments: [body.chargeId, now()]
        )
        return .ok(["refunded": body.chargeId])
    }
}

enum Email {
    struct Send: Codable, Sendable {
        var to: String
        var template: String
        var orderId: String
        var idempotencyKey: String
    }

    /// Delivers the email once per idempotency key.
    static func send(_ body: Send, _ db: Database) throws -> EffectReply {
        try db.execute(
            sql: """
                INSERT INTO emails (idempotency_key, order_id, recipient, template, at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (idempotency_key) DO NOTHING
                """,
            arguments: [body.idempotencyKey, body.orderId, body.to, body.template, now()]
        )
        return .ok(["sent": body.orderId])
    }
}

enum Loyalty {
    struct Add: Codable, Sendable {
        var userId: String
        var orderId: String
        var points: Int
        var idempotencyKey: String
    }

    static func add(_ body: Add, _ db: Database) throws -> EffectReply {
        try db.execute(
            sql: """
                INSERT INTO points (idempotency_key, order_id, user_id, points, at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (idempotency_key) DO NOTHING
                """,
            arguments: [body.idempotencyKey, body.orderId, body.userId, body.points, now()]
        )
        return .ok(["added": "\(body.points)"])
    }
}

enum OrdersDB {
    struct Confirm: Codable, Sendable {
        var orderId: String
        var userId: String
        var chargeId: String
        var reservationId: String
        var total: Int
    }

    /// Records the confirmed order, once.
    static func confirm(_ body: Confirm, _ db: Database) throws -> EffectReply {
        try db.execute(
            sql: """
                INSERT INTO orders (order_id, user_id, charge_id, reservation_id, total, at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (order_id) DO NOTHING
                """,
            arguments: [body.orderId, body.userId, body.chargeId, body.reservationId, body.total, now()]
        )
        return .ok(["confirmed": body.orderId])
    }
}
