import AsyncHTTPClient
import Foundation
import Testing

/// The reproductions of issue 13's defects, as a new user would run them against `keel serve --demo`.
@Suite("Crash-safety regressions (issue 13)", .serialized)
struct CrashSafetyRegressionTests {
    @Test("defect 1: kill -9 while 200 sends queue on 8 keys; the restart is healthy and every add counts once")
    func restartWithQueuedExclusiveCalls() async throws {
        try await withKeel { keel, client in
            let load = HTTPClient(eventLoopGroupProvider: .singleton)
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        _ = try? await load.post(
                            "\(keel.ingress)/Counter/d1k\(index % 8)/add/send",
                            "1",
                            headers: [("content-type", "application/json"), ("idempotency-key", "d1-\(index)")]
                        )
                    }
                }
                try? await Task.sleep(for: .milliseconds(300))
                keel.kill()
            }
            try await load.shutdown()
            // `start` fails the test when health does not answer within 30 s.
            try await keel.start(client: client)
            for index in 0..<200 {
                let sent = try await client.post(
                    "\(keel.ingress)/Counter/d1k\(index % 8)/add",
                    "1",
                    headers: [("content-type", "application/json"), ("idempotency-key", "d1-\(index)")]
                )
                #expect(sent.status == 200, "add d1-\(index): \(sent.status) \(sent.text)")
            }
            var total = 0
            for key in 0..<8 {
                total += Int(try await client.get("\(keel.ingress)/Counter/d1k\(key)/get").text) ?? -1_000
            }
            #expect(total == 200)
        }
    }

    @Test(
        "defects 3, 5 and 6: absurd delays, NUL keys and forged awakeable ids get clear answers and the server stays up"
    )
    func hostileRequests() async throws {
        try await withKeel { keel, client in
            for delay in ["P3650000D", "2600000h"] {
                let sent = try await client.post("\(keel.ingress)/Greeter/greet/send?delay=\(delay)", "\"far\"")
                #expect(sent.status == 202, "delay \(delay): \(sent.status) \(sent.text)")
            }
            let nul = try await client.post("\(keel.ingress)/Counter/k%00x/add", "1")
            #expect(nul.status == 400, "NUL key: \(nul.status) \(nul.text)")
            #expect(nul.text.contains("U+0000"))

            // A running invocation, and awakeable ids built from its id with a reserved or unused signal.
            let sent = try await client.post("\(keel.ingress)/Waiter/wait/send", #"{"label":"forge"}"#)
            let text = try #require(try sent.json()["invocationId"] as? String)
            let deadline = ContinuousClock.now + .seconds(10)
            var published: String?
            while published == nil, ContinuousClock.now < deadline {
                published = keel.sideEffects().first { $0.hasPrefix("forge awakeable ") }
                try await Task.sleep(for: .milliseconds(20))
            }
            let real = try #require(published.map { String($0.dropFirst("forge awakeable ".count)) })
            for (index, expected) in [(1, 400), (16, 400), (17 + 16 * 100, 404)] {
                let forged = try #require(Self.awakeable(real, signal: UInt32(index)))
                let answer = try await client.post("\(keel.ingress)/restate/awakeables/\(forged)/resolve", "\"x\"")
                #expect(answer.status == expected, "signal \(index): \(answer.status) \(answer.text)")
            }
            let output = try await client.get("\(keel.ingress)/restate/invocation/\(text)/output")
            #expect(
                output.status == 470,
                "the forged completions reached the invocation: \(output.status) \(output.text)"
            )
            #expect(
                try await client.post("\(keel.ingress)/restate/awakeables/\(real)/resolve", "\"yes\"").status == 202
            )
            #expect(try await client.get("\(keel.ingress)/restate/invocation/\(text)/attach").text == "\"yes\"")
        }
    }

    /// `real` (a `sign_1…` id) with its signal index replaced.
    static func awakeable(_ real: String, signal: UInt32) -> String? {
        let encoded = real.dropFirst("sign_1".count)
        var base64 = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard var bytes = Data(base64Encoded: base64).map(Array.init), bytes.count == 28 else { return nil }
        for offset in 0..<4 { bytes[24 + offset] = UInt8(truncatingIfNeeded: signal >> (24 - 8 * offset)) }
        let text = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(
                of: "=",
                with: ""
            )
        return "sign_1" + text
    }
}
