import Foundation
import GRDB
import OrderPlatformKit

enum Inventory {
    /// Reserves the items for the order, once: a repeated request gets the same reservation.
    static func reserve(_ body: Wire.Reserve, _ db: Database) throws -> EffectReply {
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
    static func release(_ body: Wire.Release, _ db: Database) throws -> EffectReply {
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
    /// Charges the card once per idempotency key; a repeated request gets the first answer (the charge, or the
    /// decline). Cards whose id starts with the decline prefix are declined (402).
    static func charge(_ body: Wire.Charge, _ db: Database, declinePrefix: String) throws -> EffectReply {
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

    static func refund(_ body: Wire.Refund, _ db: Database) throws -> EffectReply {
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
    /// Delivers the email once per idempotency key.
    static func send(_ body: Wire.Send, _ db: Database) throws -> EffectReply {
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
    static func add(_ body: Wire.AddPoints, _ db: Database) throws -> EffectReply {
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
    /// Records the confirmed order, once.
    static func confirm(_ body: Wire.Confirm, _ db: Database) throws -> EffectReply {
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
