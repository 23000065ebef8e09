import Foundation
import KeelProtocol
import SwiftProtobuf
import Testing

@testable import Keel

// MARK: - Typed clients

struct Order: Codable, Sendable, Equatable {
    var id: String
}

struct Receipt: Codable, Sendable, Equatable {
    var orderID: String
    var charged: Bool
}

enum Payments: ServiceContract {
    static let process = Handler<Order, Receipt>("process")
    static let ping = Handler<Void, String>("ping")
}

enum ShoppingCart: VirtualObjectContract {
    static let serviceName = "Cart"
    static let addItem = Handler<String, Int>("addItem")
    static let clear = Handler<Void, Void>("clear")
}

enum Approval: WorkflowContract {
    static let run = Handler<String, Bool>("run")
    static let approve = Handler<Bool, Void>("approve")
}

@Suite("Typed clients")
struct TypedClientTests {
    @Test("typed clients emit the same commands as untyped calls, with contract names and JSON payloads")
    func typedCalls() async throws {
        let shop = Service("Shop").handler("buy") { (ctx: Context, id: String) in
            let receipt = try await ctx.service(Payments.self).process(Order(id: id))
            try ctx.object(ShoppingCart.self, key: "c1").send(delay: .seconds(5)).addItem("socks")
            try ctx.object(ShoppingCart.self, key: "c1").clear.send()
            let pending = try ctx.workflow(Approval.self, key: id).run.future("please")
            let approved = try await pending.value
            return "\(receipt.orderID) \(receipt.charged) \(approved)"
        }
        var runtime = RuntimeSimulator(endpoint: Endpoint(shop), service: "Shop", handler: "buy")
        runtime.respond = { frame in
            switch frame.messageType {
            case .call:
                let call = try frame.decode(PBCallCommandMessage.self)
                let answer = call.serviceName == "Payments" ? #"{"charged":true,"orderID":"o1"}"# : "true"
                return [
                    try .callInvocationID(call.invocationIDNotificationIdx, "inv_x"),
                    try .callCompletion(call.resultCompletionID, json: answer),
                ]
            case .oneWayCall:
                let send = try frame.decode(PBOneWayCallCommandMessage.self)
                return [try .callInvocationID(send.invocationIDNotificationIdx, "inv_y")]
            default:
                return []
            }
        }
        let sent = try await runtime.attempt(input: "\"o1\"")
        #expect(sent.types == [.call, .oneWayCall, .oneWayCall, .call, .output, .end])
        let process = try sent[0].decode(PBCallCommandMessage.self)
        #expect(process.serviceName == "Payments" && process.handlerName == "process")
        #expect(process.parameter == Data(#"{"id":"o1"}"#.utf8))
        let add = try sent[1].decode(PBOneWayCallCommandMessage.self)
        #expect(add.serviceName == "Cart" && add.key == "c1" && add.handlerName == "addItem" && add.invokeTime > 0)
        let clear = try sent[2].decode(PBOneWayCallCommandMessage.self)
        #expect(clear.handlerName == "clear" && clear.parameter.isEmpty && clear.invokeTime == 0)
        let run = try sent[3].decode(PBCallCommandMessage.self)
        #expect(run.serviceName == "Approval" && run.key == "o1" && run.handlerName == "run")
        #expect(run.invocationIDNotificationIdx == 5 && run.resultCompletionID == 6)
        #expect(sent.outputJSON == "\"o1 true true\"")
    }

    @Test("contracts also declare the handlers a service implements")
    func implementContract() {
        let payments = Service(Payments.self)
            .handler(Payments.process) { (_: Context, order: Order) in Receipt(orderID: order.id, charged: true) }
            .handler(Payments.ping) { (_: Context) in "pong" }
        let cart = VirtualObject(ShoppingCart.self).handler(ShoppingCart.addItem) { (_: ObjectContext, _: String) in 1 }
        let approval = Workflow(Approval.self)
            .run(Approval.run) { (_: WorkflowContext, _: String) in true }
            .shared(Approval.approve) { (_: WorkflowSharedContext, _: Bool) in }
        let manifest = Endpoint(payments, cart, approval).manifest
        #expect(manifest.services.map(\.name).sorted() == ["Approval", "Cart", "Payments"])
        let workflow = manifest.services.first { $0.name == "Approval" }
        #expect(workflow?.ty == .workflow)
        #expect(workflow?.handlers.map(\.name) == ["run", "approve"])
        #expect(workflow?.handlers.map(\.ty) == [.workflow, .shared])
    }
}
