import AsyncHTTPClient
import Foundation
import Synchronization
import Testing

@Suite("SIGTERM under load", .serialized)
struct ShutdownUnderLoadTests {
    /// What the clients saw: per idempotency key, the id of the invocation when it was acknowledged.
    final class Ledger: Sendable {
        private let entries = Mutex<(acknowledged: [String: String], submitted: [String: Int])>(([:], [:]))
        /// Set once the server is gone: clients stop sending.
        let stopped = Atomic<Bool>(false)

        func submitted(_ key: String, object: Int) { entries.withLock { $0.submitted[key] = object } }
        func acknowledged(_ key: String, id: String) { entries.withLock { $0.acknowledged[key] = id } }
        var acknowledged: [String: String] { entries.withLock { $0.acknowledged } }
        var submitted: [String: Int] { entries.withLock { $0.submitted } }
    }

    @Test(
        "32 clients sending while SIGTERM arrives: every acknowledged send completes after the restart, and resending the rest counts each once"
    )
    func sigtermUnderLoad() async throws {
        let ledger = Ledger()
        let objects = 8
        try await withKeel { keel, client in
            // The load has a client of its own: its pool backs off after the server is gone, which must not
            // slow the checks after the restart.
            let load = HTTPClient(eventLoopGroupProvider: .singleton)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for clientIndex in 0..<32 {
                    group.addTask {
                        var number = 0
                        while !ledger.stopped.load(ordering: .relaxed) {
                            let key = "term-\(clientIndex)-\(number)"
                            let object = (clientIndex + number) % objects
                            number += 1
                            ledger.submitted(key, object: object)
                            guard
                                let sent = try? await load.post(
                                    "\(keel.ingress)/Counter/term\(object)/add/send",
                                    "1",
                                    headers: [("content-type", "application/json"), ("idempotency-key", key)]
                                )
                            else { return }
                            if sent.status == 202, let id = try? sent.json()["invocationId"] as? String {
                                ledger.acknowledged(key, id: id)
                            } else if sent.status >= 500 {
                                return
                            }
                        }
                    }
                }
                // SIGTERM once the load is well under way (a loaded machine takes longer to get there).
                let loadDeadline = ContinuousClock.now + .seconds(15)
                while ledger.acknowledged.count < 40, ContinuousClock.now < loadDeadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await Task.sleep(for: .milliseconds(100))
                keel.sendTerminate()
                #expect(keel.waitForExit(timeout: .seconds(20)) != nil, "keel did not exit within 20 s of SIGTERM")
                ledger.stopped.store(true, ordering: .relaxed)
                try await group.waitForAll()
            }
            try await load.shutdown()
            let acknowledged = ledger.acknowledged
            try #require(acknowledged.count >= 40, "only \(acknowledged.count) sends were acknowledged before SIGTERM")

            try await keel.start(client: client)
            for (key, id) in acknowledged {
                let result = try await client.get("\(keel.ingress)/restate/invocation/\(id)/attach")
                #expect(result.status == 200, "acknowledged \(key) (\(id)): \(result.status) \(result.text)")
            }
            // Sends whose answer was lost are sent again: the idempotency key makes each count once.
            let submitted = ledger.submitted
            for (key, object) in submitted where acknowledged[key] == nil {
                let sent = try await client.post(
                    "\(keel.ingress)/Counter/term\(object)/add",
                    "1",
                    headers: [("content-type", "application/json"), ("idempotency-key", key)]
                )
                #expect(sent.status == 200, "resend \(key): \(sent.status) \(sent.text)")
            }
            var total = 0
            for object in 0..<objects {
                total += Int(try await client.get("\(keel.ingress)/Counter/term\(object)/get").text) ?? -1_000_000
            }
            #expect(
                total == submitted.count,
                "counters hold \(total) adds for \(submitted.count) distinct sends (\(acknowledged.count) acknowledged)"
            )
        }
    }
}
