import Foundation
import KeelProtocol
import SwiftProtobuf
import Testing

@testable import Keel

// MARK: - The forms docs/sdk.md shows

@Suite("Documented API forms")
struct DocumentedFormsTests {
    @Test("the examples of docs/sdk.md compile as written")
    func examplesCompile() {
        let service = Service("Docs").handler("all") { (ctx: Context, item: String) in
            try await ctx.saga { saga in
                saga.onRollback("undo") {}
                try await ctx.run("do") {}
            }
            try await ctx.object(ShoppingCart.self, key: "k").clear()
            try ctx.object(ShoppingCart.self, key: "k").addItem.send(item)
            let client = ctx.service(Payments.self).idempotencyKey("o1").headers(["x-tenant": "a"])
            let receipt = try await client.process(Order(id: "o1"))
            let pong = try await ctx.service(Payments.self).ping()
            let f1 = try ctx.timer(for: .seconds(1)).map { 1 }
            let f2 = try ctx.runFuture("two") { 2 }
            let settled = try await ctx.allSettled([f1, f2])
            let doubled = try await f2.map { $0 * 2 }.value(timeout: .seconds(5))
            let call = try ctx.call(service: "S", handler: "h", input: 1, as: Int.self)
            let calleeID = try await call.invocationID
            try ctx.cancel(invocationID: calleeID)
            let output = try await ctx.invocationOutput(
                .idempotentRequest(service: "S", key: nil, handler: "h", idempotencyKey: "i"),
                as: Int.self
            ).value
            return "\(receipt.orderID) \(pong) \(settled.count) \(doubled) \(output ?? 0)"
        }
        let workflow = Workflow("DocsFlow").run { (ctx: WorkflowContext) in
            let promise = ctx.promise("p", as: Int.self)
            let future = try promise.future()
            return try await ctx.race(future, try ctx.timer(for: .seconds(1)).map { 0 })
        }
        #expect(Endpoint(service, workflow).manifest.services.count == 2)
    }
}
