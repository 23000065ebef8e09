import AsyncHTTPClient
import Foundation
import Testing

@Suite("The HTTP ingress of keel serve --demo", .serialized)
struct IngressTests {
    @Test("services, objects and shared handlers answer as in the README")
    func readmeExamples() async throws {
        try await withKeel { keel, client in
            let greeting = try await client.post("\(keel.ingress)/Greeter/greet", "\"World\"")
            #expect(greeting.status == 200)
            #expect(greeting.text == "\"Hello, World!\"")
            #expect(greeting.headers.first(name: "x-restate-id")?.hasPrefix("inv_1") == true)

            #expect(try await client.post("\(keel.ingress)/Counter/user123/add", "5").text == "5")
            #expect(try await client.post("\(keel.ingress)/Counter/user123/add", "5").text == "10")
            #expect(try await client.get("\(keel.ingress)/Counter/user123/get").text == "10")

            let sent = try await client.post("\(keel.ingress)/Counter/user123/add/send", "1")
            #expect(sent.status == 202)
            let receipt = try sent.json()
            #expect(receipt["status"] as? String == "Accepted")
            let id = try #require(receipt["invocationId"] as? String)
            #expect(id.hasPrefix("inv_1") && id.count == 38)
            let attached = try await client.get("\(keel.ingress)/restate/invocation/\(id)/attach")
            #expect(attached.text == "11")
            #expect(try await client.get("\(keel.ingress)/restate/invocation/\(id)/output").text == "11")

            #expect(
                try await client.post("\(keel.ingress)/Cart/u1/addItem", #"{"productId":"p1","quantity":2}"#).text
                    == "1"
            )
            let items = try await client.get("\(keel.ingress)/Cart/u1/getItems")
            #expect(items.text.contains("\"productId\":\"p1\""))

            let health = try await client.get("\(keel.ingress)/restate/health")
            #expect(health.status == 200 && health.text.contains("Greeter"))
            #expect(try await client.get("\(keel.admin)/health").status == 200)
        }
    }

    @Test("Bench/run journals N steps and returns N")
    func bench() async throws {
        try await withKeel { keel, client in
            let response = try await client.post("\(keel.ingress)/Bench/run", #"{"steps": 25}"#)
            #expect(response.text == "25")
        }
    }

    @Test("bad requests get Restate's JSON error with the right status")
    func badRequests() async throws {
        try await withKeel { keel, client in
            let unknownService = try await client.post("\(keel.ingress)/Nope/greet", "1")
            #expect(unknownService.status == 404)
            #expect(try unknownService.json()["message"] as? String != nil)
            #expect(unknownService.headers.first(name: "x-restate-error-source") == "ingress")

            #expect(try await client.post("\(keel.ingress)/Greeter/shout", "\"x\"").status == 404)
            #expect(try await client.post("\(keel.ingress)/Greeter/greet", "{not json").status == 400)
            #expect(try await client.post("\(keel.ingress)/Counter/add", "1").status == 400)
            #expect(try await client.post("\(keel.ingress)/Greeter/key/greet", "\"x\"").status == 400)

            let tooBig = String(repeating: "a", count: 10 * 1024 * 1024 + 10)
            let oversized = try await client.post("\(keel.ingress)/Greeter/greet", "\"\(tooBig)\"")
            #expect(oversized.status == 413)
            #expect(try oversized.json()["code"] as? Int == 413)

            let badID = try await client.get("\(keel.ingress)/restate/invocation/inv_nope/output")
            #expect(badID.status == 400)

            // None of the refused requests reached the object: its state is untouched.
            #expect(try await client.get("\(keel.ingress)/Counter/fresh/get").text == "0")
        }
    }

    @Test("a TerminalError reaches the caller as an error response with the handler's code")
    func terminalError() async throws {
        try await withKeel { keel, client in
            let response = try await client.post("\(keel.ingress)/Cart/u2/addItem", #"{"productId":"p1","quantity":0}"#)
            #expect(response.status == 400)
            let body = try response.json()
            #expect(body["source"] as? String == "invocation")
            #expect((body["message"] as? String)?.contains("quantity must be positive") == true)
            #expect(response.headers.first(name: "x-restate-id")?.hasPrefix("inv_1") == true)
        }
    }

    @Test("a repeated idempotency key returns the first invocation and its result, and runs once")
    func idempotency() async throws {
        try await withKeel { keel, client in
            let headers = [("content-type", "application/json"), ("idempotency-key", "order-42")]
            let first = try await client.post("\(keel.ingress)/Counter/idem/add", "7", headers: headers)
            let second = try await client.post("\(keel.ingress)/Counter/idem/add", "7", headers: headers)
            #expect(first.text == "7" && second.text == "7")
            #expect(first.headers.first(name: "x-restate-id") == second.headers.first(name: "x-restate-id"))
            let sent = try await client.post("\(keel.ingress)/Counter/idem/add/send", "7", headers: headers)
            #expect(try sent.json()["status"] as? String == "PreviouslyAccepted")
            #expect(try await client.get("\(keel.ingress)/Counter/idem/get").text == "7")
        }
    }

    @Test("output of a running invocation answers 470, then the result")
    func outputNotReady() async throws {
        try await withKeel { keel, client in
            let sent = try await client.post(
                "\(keel.ingress)/Recorder/slow/record/send",
                #"{"label":"s","steps":2,"delayMs":400}"#
            )
            let id = try #require(try sent.json()["invocationId"] as? String)
            let early = try await client.get("\(keel.ingress)/restate/invocation/\(id)/output")
            #expect(early.status == 470)
            #expect(try await client.get("\(keel.ingress)/restate/invocation/\(id)/attach").text == "2")
        }
    }

    @Test("1,000 concurrent adds of 1 to one key end at exactly 1,000")
    func concurrentAdds() async throws {
        try await withKeel { keel, client in
            let totals = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<1000 {
                    group.addTask {
                        let response = try await client.post("\(keel.ingress)/Counter/hot/add", "1")
                        return Int(response.text) ?? -1
                    }
                }
                var totals: [Int] = []
                for try await total in group { totals.append(total) }
                return totals
            }
            #expect(Set(totals) == Set(1...1000))
            #expect(try await client.get("\(keel.ingress)/Counter/hot/get").text == "1000")
        }
    }
}
