import AsyncHTTPClient
import Foundation
import Keel
import KeelEngine
import KeelServer
import Testing

@Suite("A whole application on a manual clock")
struct ApplicationClockTests {
    @Test(
        "a send delayed by a day, over real HTTP, runs when the application's clock reaches it and not a second before"
    )
    func delayedSendOverHTTP() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keel-app-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let clock = ManualClock()
        let greeter = Keel.Service("Greeter").handler("greet") { (_: Context, name: String) in "Hello, \(name)!" }
        let (ingressPort, adminPort) = (try freeLoopbackPort(), try freeLoopbackPort())
        let application = KeelApplication(
            configuration: ServerConfiguration(
                dataDirectory: directory.path,
                ingress: .init(host: "127.0.0.1", port: ingressPort),
                admin: .init(host: "127.0.0.1", port: adminPort)
            ),
            endpoints: [Endpoint(greeter)],
            clock: clock
        )
        let running = Task { try await application.run() }
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        let ingress = "http://127.0.0.1:\(ingressPort)"
        do {
            let deadline = ContinuousClock.now + .seconds(30)
            while (try? await client.get("http://127.0.0.1:\(adminPort)/health").status) != 200 {
                guard ContinuousClock.now < deadline else { throw KeelProcessError(message: "never healthy") }
                try await Task.sleep(for: .milliseconds(20))
            }
            let due = clock.now() + 86_400_000
            let sent = try await client.post("\(ingress)/Greeter/greet/send?delay=1d", "\"tomorrow\"")
            #expect(sent.status == 202, "\(sent.text)")
            let id = try #require(try sent.json()["invocationId"] as? String)
            #expect(await clock.waitUntil { $0.contains(due) }, "the start was never armed for \(due)")

            await clock.advance(by: .seconds(86_399))
            #expect(try await client.get("\(ingress)/restate/invocation/\(id)/output").status != 200)

            await clock.advance(by: .seconds(1))
            let attached = try await client.get("\(ingress)/restate/invocation/\(id)/attach")
            #expect(attached.status == 200)
            #expect(attached.text == "\"Hello, tomorrow!\"")
        } catch {
            running.cancel()
            try? await client.shutdown()
            throw error
        }
        running.cancel()
        _ = await running.result
        try await client.shutdown()
    }
}
