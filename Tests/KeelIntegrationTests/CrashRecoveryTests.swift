import AsyncHTTPClient
import Foundation
import KeelTestSupport
import Testing

/// The stores a crash test runs on: SQLite always, PostgreSQL when the test server can start (or CI requires it).
enum TestStore: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    static var available: [TestStore] { PostgresTestServer.enabled ? allCases : [.sqlite] }

    var testDescription: String { rawValue }

    /// A server on this store: `--store` with a fresh PostgreSQL database, or SQLite in its data directory.
    func keel() async throws -> KeelProcess {
        switch self {
        case .sqlite:
            return try KeelProcess()
        case .postgres:
            let url = try await PostgresTestServer.shared().freshDatabase()
            return try KeelProcess(serveArguments: ["--store", url])
        }
    }
}

@Suite("Crash recovery with kill -9", .serialized)
struct CrashRecoveryTests {
    /// Waits until the side-effect log holds at least `count` lines.
    private func waitForSideEffects(_ keel: KeelProcess, atLeast count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while keel.sideEffects().count < count {
            guard ContinuousClock.now < deadline else {
                throw KeelProcessError(
                    message: "only \(keel.sideEffects().count) side effects after 30 s; log:\n\(keel.serverLog)"
                )
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Lines written after the kill must not repeat lines written before it, except the very last one: that
    /// step may have run without its result being stored, and running it again is the at-least-once contract.
    private func expectNoRepeatedCompletedSteps(before: [String], after: [String]) {
        let completedBeforeKill = Set(before.dropLast())
        let repeated = after.filter(completedBeforeKill.contains)
        #expect(repeated.isEmpty, "steps completed before the kill ran again: \(repeated)")
    }

    @Test(
        "an invocation killed mid-way resumes after restart without re-running completed steps",
        arguments: TestStore.available
    )
    func resumeAfterKill(store: TestStore) async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let keel = try await store.keel()
        defer { keel.cleanUp() }
        do {
            try await keel.start(client: client)
            let sent = try await client.post(
                "\(keel.ingress)/Recorder/crash/record/send",
                #"{"label":"run","steps":6,"delayMs":250}"#
            )
            #expect(sent.status == 202)
            let id = try #require(try sent.json()["invocationId"] as? String)
            try await waitForSideEffects(keel, atLeast: 3)
            keel.kill()
            let beforeKill = keel.sideEffects()

            try await keel.start(client: client)
            let result = try await client.get("\(keel.ingress)/restate/invocation/\(id)/attach")
            #expect(result.text == "6", "attach answered \(result.status) \(result.text)")
            let all = keel.sideEffects()
            let afterKill = Array(all.dropFirst(beforeKill.count))
            expectNoRepeatedCompletedSteps(before: beforeKill, after: afterKill)
            #expect(Set(all) == Set((0..<6).map { "crash run \($0)" }))
            #expect(try await client.get("\(keel.ingress)/Recorder/crash/count").text == "6")
        } catch {
            Issue.record("server log:\n\(keel.serverLog)")
            throw error
        }
        try await client.shutdown()
    }

    @Test(
        "a queue of exclusive calls on one key survives kill -9: none lost, none run twice, FIFO kept",
        arguments: TestStore.available
    )
    func queueSurvivesKill(store: TestStore) async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let keel = try await store.keel()
        defer { keel.cleanUp() }
        do {
            try await keel.start(client: client)
            var ids: [String] = []
            for call in 0..<5 {
                let sent = try await client.post(
                    "\(keel.ingress)/Recorder/queue/record/send",
                    #"{"label":"c\#(call)","steps":2,"delayMs":150}"#
                )
                ids.append(try #require(try sent.json()["invocationId"] as? String))
            }
            try await waitForSideEffects(keel, atLeast: 3)
            keel.kill()
            let beforeKill = keel.sideEffects()

            try await keel.start(client: client)
            for id in ids {
                let result = try await client.get("\(keel.ingress)/restate/invocation/\(id)/attach")
                #expect(result.status == 200, "attach \(id): \(result.status) \(result.text)")
            }
            let all = keel.sideEffects()
            expectNoRepeatedCompletedSteps(before: beforeKill, after: Array(all.dropFirst(beforeKill.count)))
            let expected = (0..<5).flatMap { call in (0..<2).map { "queue c\(call) \($0)" } }
            #expect(Set(all) == Set(expected))
            var firstSeen: [String] = []
            for line in all {
                let label = String(line.split(separator: " ")[1])
                if !firstSeen.contains(label) { firstSeen.append(label) }
            }
            #expect(firstSeen == (0..<5).map { "c\($0)" }, "calls ran out of order: \(firstSeen)")
            #expect(try await client.get("\(keel.ingress)/Recorder/queue/count").text == "10")
        } catch {
            Issue.record("server log:\n\(keel.serverLog)")
            throw error
        }
        try await client.shutdown()
    }

    @Test("SIGTERM answers waiting callers with 503, exits promptly, and the invocation completes after restart")
    func gracefulShutdown() async throws {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let keel = try KeelProcess()
        defer { keel.cleanUp() }
        do {
            try await keel.start(client: client)
            async let waiting = client.post(
                "\(keel.ingress)/Recorder/term/record",
                #"{"label":"t","steps":3,"delayMs":400}"#
            )
            try await waitForSideEffects(keel, atLeast: 1)
            let started = ContinuousClock.now
            keel.stop()
            #expect(ContinuousClock.now - started < .seconds(10))
            let answer = try await waiting
            #expect(answer.status == 503)
            let id = try #require(answer.headers.first(name: "x-restate-id"))

            try await keel.start(client: client)
            let result = try await client.get("\(keel.ingress)/restate/invocation/\(id)/attach")
            #expect(result.text == "3")
        } catch {
            Issue.record("server log:\n\(keel.serverLog)")
            throw error
        }
        try await client.shutdown()
    }
}
