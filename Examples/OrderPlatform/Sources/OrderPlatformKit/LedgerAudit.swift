import Foundation
import GRDB

/// What the outside services' ledgers say happened, against what must hold (issue 19's table): no ghost or
/// double charges, no stranded reservations, one email and one points grant per confirmed order.
public struct LedgerAudit: Sendable, Hashable {
    /// Orders the payments service charged (once each, by idempotency key).
    public var charged = 0
    /// Orders whose card was declined.
    public var declined = 0
    /// Orders the orders database confirmed.
    public var confirmed = 0
    /// Charged, but neither confirmed nor refunded.
    public var ghost = 0
    /// Orders charged more than once.
    public var double = 0
    /// Reservations neither released nor part of a confirmed order.
    public var stranded = 0
    /// Declined orders whose reservation is not released.
    public var unreleasedDeclines = 0
    /// Confirmation emails delivered for confirmed orders, and for orders that are not confirmed.
    public var emails = 0
    public var strayEmails = 0
    /// The last email's delivery (ms since the epoch).
    public var lastEmailAt: Int64?
    /// Points granted for confirmed orders, and for orders that are not confirmed.
    public var points = 0
    public var strayPoints = 0
    /// The confirmed orders' total (cents).
    public var confirmedTotal: Int64 = 0
    /// Requests each service received, by outcome (`payments.hung`, `email.down`, …): the retries behind the
    /// effects.
    public var requests: [String: Int] = [:]

    /// Reads the ledgers `inventory.sqlite`, `payments.sqlite`, `email.sqlite`, `loyalty.sqlite` and
    /// `orders.sqlite` in `directory` (read-only).
    public static func read(directory: String) throws -> LedgerAudit {
        var configuration = Configuration()
        configuration.readonly = true
        let path = { (name: String) in URL(fileURLWithPath: directory).appendingPathComponent("\(name).sqlite").path }
        let queue = try DatabaseQueue(path: path("orders"), configuration: configuration)
        return try queue.inDatabase { db in
            for name in ["inventory", "payments", "email", "loyalty"] {
                try db.execute(sql: "ATTACH DATABASE ? AS \(name)", arguments: [path(name)])
            }
            func count(_ sql: String) throws -> Int { try Int.fetchOne(db, sql: sql) ?? 0 }
            var audit = LedgerAudit()
            audit.charged = try count("SELECT count(DISTINCT order_id) FROM payments.charges WHERE status = 'charged'")
            audit.declined = try count(
                "SELECT count(DISTINCT order_id) FROM payments.charges WHERE status = 'declined'"
            )
            audit.confirmed = try count("SELECT count(*) FROM main.orders")
            audit.ghost = try count(
                """
                SELECT count(*) FROM payments.charges c WHERE c.status = 'charged'
                AND c.order_id NOT IN (SELECT order_id FROM main.orders)
                AND c.charge_id NOT IN (SELECT charge_id FROM payments.refunds)
                """
            )
            audit.double = try count(
                """
                SELECT count(*) FROM (SELECT order_id FROM payments.charges WHERE status = 'charged'
                GROUP BY order_id HAVING count(*) > 1)
                """
            )
            audit.stranded = try count(
                """
                SELECT count(*) FROM inventory.reservations r WHERE r.status = 'reserved'
                AND r.reservation_id NOT IN (SELECT reservation_id FROM main.orders)
                """
            )
            audit.unreleasedDeclines = try count(
                """
                SELECT count(*) FROM payments.charges c JOIN inventory.reservations r ON r.order_id = c.order_id
                WHERE c.status = 'declined' AND r.status <> 'released'
                """
            )
            audit.emails = try count(
                "SELECT count(*) FROM email.emails WHERE order_id IN (SELECT order_id FROM main.orders)"
            )
            audit.strayEmails = try count(
                "SELECT count(*) FROM email.emails WHERE order_id NOT IN (SELECT order_id FROM main.orders)"
            )
            audit.lastEmailAt = try Int64.fetchOne(db, sql: "SELECT max(at) FROM email.emails")
            audit.points = try count(
                "SELECT count(*) FROM loyalty.points WHERE order_id IN (SELECT order_id FROM main.orders)"
            )
            audit.strayPoints = try count(
                "SELECT count(*) FROM loyalty.points WHERE order_id NOT IN (SELECT order_id FROM main.orders)"
            )
            audit.confirmedTotal = try Int64.fetchOne(db, sql: "SELECT coalesce(sum(total), 0) FROM main.orders") ?? 0
            for name in ["inventory", "payments", "email", "loyalty", "main"] {
                let service = name == "main" ? "orders" : name
                for row in try Row.fetchAll(
                    db,
                    sql: "SELECT outcome, count(*) AS n FROM \(name).requests GROUP BY outcome"
                ) {
                    let outcome: String = row["outcome"]
                    audit.requests["\(service).\(outcome)", default: 0] = row["n"]
                }
            }
            return audit
        }
    }

    /// The violations, in words; empty when the ledgers are sound. `accepted`: orders the platform accepted.
    public func violations(accepted: Int, revenueMatches: Bool) -> [String] {
        var found: [String] = []
        if ghost > 0 { found.append("\(ghost) ghost charge(s): charged, not confirmed, not refunded") }
        if double > 0 { found.append("\(double) order(s) charged twice") }
        if stranded > 0 { found.append("\(stranded) reservation(s) neither released nor confirmed") }
        if unreleasedDeclines > 0 { found.append("\(unreleasedDeclines) declined order(s) kept their reservation") }
        if confirmed + declined != accepted {
            found.append("\(accepted) orders accepted, but \(confirmed) confirmed and \(declined) declined")
        }
        if emails != confirmed || strayEmails > 0 {
            found.append("\(emails) confirmation email(s) for \(confirmed) confirmed orders (\(strayEmails) stray)")
        }
        if points != confirmed || strayPoints > 0 {
            found.append("\(points) points grant(s) for \(confirmed) confirmed orders (\(strayPoints) stray)")
        }
        if !revenueMatches { found.append("the dashboard's revenue differs from the ledger's \(confirmedTotal) cents") }
        return found
    }

    /// The run's machine-readable last line.
    public func summary(accepted: Int, revenueMatches: Bool) -> String {
        "chaos: orders=\(accepted) confirmed=\(confirmed) failed=\(declined) ghost=\(ghost) double=\(double) "
            + "stranded=\(stranded) emails=\(emails)/\(confirmed) points=\(points)/\(confirmed) "
            + "revenue=\(revenueMatches ? "ok" : "mismatch")"
    }
}
