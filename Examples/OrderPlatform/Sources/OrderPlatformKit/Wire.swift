/// The JSON bodies the platform sends to the outside services (one definition for both sides).
public enum Wire {
    /// One item of an order (price in cents), as the seed's `OrderRequest` has it.
    public struct OrderItem: Codable, Sendable {
        public var productId: String
        public var quantity: Int
        public var price: Int

        public init(productId: String, quantity: Int, price: Int) {
            self.productId = productId
            self.quantity = quantity
            self.price = price
        }
    }

    /// `POST inventory/reserve`.
    public struct Reserve: Codable, Sendable {
        public var orderId: String
        public var items: [OrderItem]

        public init(orderId: String, items: [OrderItem]) {
            self.orderId = orderId
            self.items = items
        }
    }

    /// `POST inventory/release`.
    public struct Release: Codable, Sendable {
        public var reservationId: String

        public init(reservationId: String) { self.reservationId = reservationId }
    }

    /// `POST payments/charge`.
    public struct Charge: Codable, Sendable {
        public var orderId: String
        public var userId: String
        public var amount: Int
        public var paymentMethodId: String
        public var idempotencyKey: String

        public init(orderId: String, userId: String, amount: Int, paymentMethodId: String, idempotencyKey: String) {
            self.orderId = orderId
            self.userId = userId
            self.amount = amount
            self.paymentMethodId = paymentMethodId
            self.idempotencyKey = idempotencyKey
        }
    }

    /// `POST payments/refund`.
    public struct Refund: Codable, Sendable {
        public var chargeId: String

        public init(chargeId: String) { self.chargeId = chargeId }
    }

    /// `POST email/send`.
    public struct Send: Codable, Sendable {
        public var to: String
        public var template: String
        public var orderId: String
        public var idempotencyKey: String

        public init(to: String, template: String, orderId: String, idempotencyKey: String) {
            self.to = to
            self.template = template
            self.orderId = orderId
            self.idempotencyKey = idempotencyKey
        }
    }

    /// `POST loyalty/points`.
    public struct AddPoints: Codable, Sendable {
        public var userId: String
        public var orderId: String
        public var points: Int
        public var idempotencyKey: String

        public init(userId: String, orderId: String, points: Int, idempotencyKey: String) {
            self.userId = userId
            self.orderId = orderId
            self.points = points
            self.idempotencyKey = idempotencyKey
        }
    }

    /// `POST orders/confirm`.
    public struct Confirm: Codable, Sendable {
        public var orderId: String
        public var userId: String
        public var chargeId: String
        public var reservationId: String
        public var total: Int

        public init(orderId: String, userId: String, chargeId: String, reservationId: String, total: Int) {
            self.orderId = orderId
            self.userId = userId
            self.chargeId = chargeId
            self.reservationId = reservationId
            self.total = total
        }
    }
}
