import Foundation
import Keel
import OrderPlatformKit

/// The seed's `OrderRequest`.
struct OrderRequest: Codable, Sendable {
    var orderId: String
    var userId: String
    var items: [Wire.OrderItem]
    var paymentMethodId: String
}

struct OrderResult: Codable, Sendable {
    var orderId: String
    var chargeId: String
    var status: String
}

/// The `order:completed` event's data.
struct OrderCompleted: Codable, Sendable {
    var orderId: String
    var userId: String
    var total: Int
    var itemCount: Int
}

/// What the payments service said about a charge, as the step journals it: a decline is an answer, not a failure.
struct ChargeOutcome: Codable, Sendable {
    var chargeId: String?
    var declined: Bool
}

/// How long the post-order handlers keep retrying before they pause (see the README: an outage longer than
/// this pauses the confirmations, which are resumed in bulk once the email service is back).
struct PostOrderPolicy: Sendable {
    var emailInitialInterval: Duration = .seconds(1)
    var emailMaxInterval: Duration = .seconds(30)
    var emailMaxAttempts = 12
}

enum OrderPlatform {
    /// The seed's `orders.processOrder`: reserve inventory, charge the card (a decline releases the reservation
    /// and fails the order terminally), confirm the order, publish `order:completed`. Each effect is a journaled
    /// step with the order id as the outside service's idempotency key, so a retried or replayed step never
    /// repeats an effect.
    static func orders(_ backends: Backends) -> Service {
        Service("orders").handler("processOrder") { (ctx: Context, order: OrderRequest) -> OrderResult in
            let total = try Self.total(order)
            struct Reservation: Codable, Sendable { var id: String }
            let reservation = try await ctx.run("reserve-inventory") {
                try await backends.call(
                    "\(backends.inventory)/reserve",
                    Wire.Reserve(orderId: order.orderId, items: order.items),
                    as: Reservation.self
                )
            }
            let charge = try await ctx.run("charge-payment") { () -> ChargeOutcome in
                let answer = try await backends.post(
                    "\(backends.payments)/charge",
                    Wire.Charge(
                        orderId: order.orderId,
                        userId: order.userId,
                        amount: total,
                        paymentMethodId: order.paymentMethodId,
                        idempotencyKey: order.orderId
                    )
                )
                if answer.status == 402 { return ChargeOutcome(chargeId: nil, declined: true) }
                guard (200..<300).contains(answer.status),
                    let reply = try? JSONDecoder().decode([String: String].self, from: answer.body),
                    let chargeID = reply["chargeId"]
                else {
                    throw BackendError("payments answered \(answer.status)")
                }
                return ChargeOutcome(chargeId: chargeID, declined: false)
            }
            guard let chargeID = charge.chargeId, !charge.declined else {
                // The compensation is a step of its own: once it is journaled it is never repeated, and a crash
                // before it is stored runs it again (release is idempotent).
                try await ctx.run("release-inventory") {
                    _ = try await backends.call(
                        "\(backends.inventory)/release",
                        Wire.Release(reservationId: reservation.id),
                        as: [String: String].self
                    )
                }
                throw TerminalError("payment declined for order \(order.orderId)", code: 402)
            }
            try await ctx.run("confirm-order") {
                _ = try await backends.call(
                    "\(backends.orders)/confirm",
                    Wire.Confirm(
                        orderId: order.orderId,
                        userId: order.userId,
                        chargeId: chargeID,
                        reservationId: reservation.id,
                        total: total
                    ),
                    as: [String: String].self
                )
            }
            try await ctx.publish(
                "order:completed",
                data: OrderCompleted(
                    orderId: order.orderId,
                    userId: order.userId,
                    total: total,
                    itemCount: order.items.count
                )
            )
            return OrderResult(orderId: order.orderId, chargeId: chargeID, status: "completed")
        }
    }

    /// The order's total in cents; an order that is empty, negative or overflows is refused (terminally, 400).
    static func total(_ order: OrderRequest) throws -> Int {
        guard !order.items.isEmpty, !order.orderId.isEmpty, !order.userId.isEmpty else {
            throw TerminalError("an order needs an orderId, a userId and items", code: 400)
        }
        var total = 0
        for item in order.items {
            guard item.quantity > 0, item.price >= 0 else {
                throw TerminalError("item \(item.productId): quantity and price must be positive", code: 400)
            }
            let (line, overflow) = item.price.multipliedReportingOverflow(by: item.quantity)
            let (sum, overflowSum) = total.addingReportingOverflow(line)
            guard !overflow, !overflowSum else { throw TerminalError("the order's total overflows", code: 400) }
            total = sum
        }
        guard total > 0 else { throw TerminalError("the order's total is zero", code: 400) }
        return total
    }

    /// The seed's post-order workflow: three handlers started by `order:completed`, each on its own (a failing
    /// one affects neither the others nor the order), each with the seed's timeout.
    static func postOrder(_ backends: Backends, policy: PostOrderPolicy) -> Service {
        Service("post-order")
            .handler("send-confirmation") { (ctx: Context, event: OrderCompleted) in
                try await ctx.run("send-email") {
                    _ = try await backends.call(
                        "\(backends.email)/send",
                        Wire.Send(
                            to: event.userId,
                            template: "order-confirmation",
                            orderId: event.orderId,
                            idempotencyKey: event.orderId
                        ),
                        as: [String: String].self
                    )
                }
            }
            .handler("add-loyalty-points") { (ctx: Context, event: OrderCompleted) in
                try await ctx.run("add-points") {
                    _ = try await backends.call(
                        "\(backends.loyalty)/points",
                        Wire.AddPoints(
                            userId: event.userId,
                            orderId: event.orderId,
                            points: event.total / 100,
                            idempotencyKey: event.orderId
                        ),
                        as: [String: String].self
                    )
                }
            }
            .handler("track-analytics") { (ctx: Context, event: OrderCompleted) in
                struct Row: Codable, Sendable {
                    var order_id: String
                    var user_id: String
                    var total_cents: Int
                    var item_count: Int
                    var timestamp: String
                }
                try await ctx.run("ingest-order") {
                    let row = Row(
                        order_id: event.orderId,
                        user_id: event.userId,
                        total_cents: event.total,
                        item_count: event.itemCount,
                        timestamp: ISO8601DateFormatter().string(from: Date())
                    )
                    // Keel's ingress lands a request's rows once per idempotency key, however often it is retried.
                    let answer = try await backends.post(
                        "\(backends.analytics)/v0/events?name=orders&wait=true",
                        row,
                        headers: [("idempotency-key", event.orderId)]
                    )
                    guard (200..<300).contains(answer.status) else {
                        throw BackendError("analytics ingest answered \(answer.status)")
                    }
                }
            }
            .trigger(.event("order:completed"), forHandler: "send-confirmation")
            .trigger(.event("order:completed"), forHandler: "add-loyalty-points")
            .trigger(.event("order:completed"), forHandler: "track-analytics")
            .options(
                DurabilityOptions(
                    retryPolicy: InvocationRetryPolicy(
                        initialInterval: policy.emailInitialInterval,
                        factor: 2,
                        maxInterval: policy.emailMaxInterval,
                        maxAttempts: policy.emailMaxAttempts,
                        onMaxAttempts: .pause
                    ),
                    executionTimeout: .seconds(30)
                ),
                forHandler: "send-confirmation"
            )
            .options(DurabilityOptions(executionTimeout: .seconds(15)), forHandler: "add-loyalty-points")
            .options(DurabilityOptions(executionTimeout: .seconds(10)), forHandler: "track-analytics")
    }
}
