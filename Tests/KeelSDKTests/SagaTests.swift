import Foundation
import KeelProtocol
import SwiftProtobuf
import Testing

@testable import Keel

// MARK: - Sagas

@Suite("Sagas")
struct SagaTests {
    static func trip(_ counter: StepCounter) -> Service {
        Service("Trip")
            .handler("book") { (ctx: Context, _: NoInput) -> String in
                try await ctx.saga { (saga: Saga) async throws -> String in
                    saga.onRollback("cancel-flight") { counter.hit("cancel-flight") }
                    try await ctx.run("book-flight") { counter.hit("book-flight") }
                    saga.onRollback("cancel-hotel") { counter.hit("cancel-hotel") }
                    try await ctx.run("book-hotel") { counter.hit("book-hotel") }
                    throw TerminalError("payment declined", code: 402)
                }
            }
            .handler("wait") { (ctx: Context, _: NoInput) -> String in
                try await ctx.saga { (saga: Saga) async throws -> String in
                    saga.onRollback("undo") { counter.hit("undo") }
                    try await ctx.run("do") { counter.hit("do") }
                    try await ctx.sleep(for: .seconds(60))
                    return "done"
                }
            }
    }

    @Test("a terminal failure runs the compensations in reverse order, each as a step, then rethrows")
    func compensates() async throws {
        let counter = StepCounter()
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.trip(counter)), service: "Trip", handler: "book")
        let sent = try await runtime.attempt(input: "")
        let names = try sent.decoded(.run, as: PBRunCommandMessage.self).map(\.name)
        #expect(names == ["book-flight", "book-hotel", "cancel-hotel", "cancel-flight"])
        #expect(sent.outputFailure?.code == 402)
        for step in ["book-flight", "book-hotel", "cancel-hotel", "cancel-flight"] {
            #expect(counter.count(step) == 1)
        }
    }

    @Test("on replay, completed compensations are not run again")
    func replay() async throws {
        let counter = StepCounter()
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.trip(counter)), service: "Trip", handler: "book")
        let journal = [
            try Frame.run("book-flight", id: 1), try .runCompletion(1, json: "{}"),
            try .run("book-hotel", id: 2), try .runCompletion(2, json: "{}"),
            try .run("cancel-hotel", id: 3), try .runCompletion(3, json: "{}"),
        ]
        let sent = try await runtime.attempt(input: "", journal: journal)
        #expect(try sent.decoded(.run, as: PBRunCommandMessage.self).map(\.name) == ["cancel-flight"])
        #expect(counter.count("cancel-hotel") == 0 && counter.count("book-flight") == 0)
        #expect(counter.count("cancel-flight") == 1)
        #expect(sent.outputFailure?.code == 402)
    }

    @Test("a cancellation (409) also compensates")
    func cancellationCompensates() async throws {
        let counter = StepCounter()
        let runtime = RuntimeSimulator(endpoint: Endpoint(Self.trip(counter)), service: "Trip", handler: "wait")
        let journal = [try Frame.run("do", id: 1), try .runCompletion(1, json: "{}"), try .sleep(id: 2), Frame.cancel]
        let sent = try await runtime.attempt(input: "", journal: journal)
        #expect(try sent.decoded(.run, as: PBRunCommandMessage.self).map(\.name) == ["undo"])
        #expect(counter.count("undo") == 1 && counter.count("do") == 0)
        #expect(sent.outputFailure?.code == 409)
    }

    @Test("a suspension does not compensate")
    func suspensionDoesNotCompensate() async throws {
        let counter = StepCounter()
        var runtime = RuntimeSimulator(endpoint: Endpoint(Self.trip(counter)), service: "Trip", handler: "wait")
        runtime.closeInputAfterReplay = true
        let sent = try await runtime.attempt(
            input: "",
            journal: [try Frame.run("do", id: 1), try .runCompletion(1, json: "{}")]
        )
        #expect(sent.types == [.sleep, .suspension])
        #expect(counter.count("undo") == 0)
    }
}
