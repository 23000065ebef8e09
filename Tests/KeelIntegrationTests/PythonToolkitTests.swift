import Foundation
import Testing

/// The durable toolkit (timers, sends, awakeables, workflows and promises, cancel and kill, sagas) driven by
/// services written with Restate's Python SDK, over HTTP/1.1 (every wait suspends and re-invokes) and HTTP/2
/// (notifications stream into the live attempt).
@Suite("Durable toolkit with Restate's Python SDK", .serialized)
struct PythonToolkitTests {
    @Test(
        "ctx.sleep: the handler sleeps durably and each step around the sleep runs once",
        arguments: PythonTransport.allCases
    )
    func sleep(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let log = interop.python.file("sleep.log")
            let started = ContinuousClock.now
            let response = try await interop.call("/PyToolkit/sleep", #"{"ms": 1200, "log": "\#(log)"}"#)
            #expect(response.status == 200, "\(response.status) \(response.text)")
            #expect(response.text == #""woke""#)
            #expect(ContinuousClock.now - started >= .milliseconds(1150), "returned before the sleep was over")
            #expect(interop.python.lines(log) == ["before", "after"])

            let raced = try await interop.call("/PyToolkit/awakeOrGiveUp", #"{"ms": 400}"#)
            #expect(
                raced.status == 200 && raced.text == #""gave up""#,
                "restate.select of an awakeable and a sleep: \(raced.status) \(raced.text)"
            )
        }
    }

    @Test(
        "ctx.sleep across kill -9: the timer survives the restart and fires once",
        arguments: PythonTransport.allCases
    )
    func sleepAcrossCrash(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let log = interop.python.file("sleep-crash.log")
            let sent = try await interop.call("/PyToolkit/sleep/send", #"{"ms": 2500, "log": "\#(log)"}"#)
            let id = try #require(try sent.json()["invocationId"] as? String, "\(sent.status) \(sent.text)")
            try await interop.waitForLines(log, atLeast: 1)
            // Suspended means the step before the sleep is stored: only then is "runs once" a promise.
            try await interop.waitForStatus(id, "suspended")
            interop.keel.kill()
            try await interop.keel.start(client: interop.client)
            let result = try await interop.get("/restate/invocation/\(id)/attach")
            #expect(result.status == 200, "\(result.status) \(result.text)")
            #expect(result.text == #""woke""#)
            #expect(interop.python.lines(log) == ["before", "after"])
        }
    }

    @Test(
        "Sends: a delayed send from Python and a delayed ingress send run after their delay",
        arguments: PythonTransport.allCases
    )
    func delayedSends(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let started = ContinuousClock.now
            let sent = try await interop.call("/PyCaller/sendLater", #"{"key": "d1", "value": 4, "delayMs": 1000}"#)
            #expect(sent.status == 200 && sent.text == #""sent""#, "\(sent.status) \(sent.text)")
            #expect(try await interop.get("/PyCounter/d1/get").text == "0", "the delayed send ran at once")
            try await interop.waitFor("/PyCounter/d1/get", toRead: "4")
            #expect(ContinuousClock.now - started >= .milliseconds(950))

            let ingress = try await interop.call("/PyCounter/d2/add/send?delay=PT1S", "6")
            #expect(ingress.status == 202, "\(ingress.status) \(ingress.text)")
            #expect(try ingress.json()["executionTime"] is String, "\(ingress.text)")
            #expect(try await interop.get("/PyCounter/d2/get").text == "0")
            try await interop.waitFor("/PyCounter/d2/get", toRead: "6")

            let bad = try await interop.call("/PyCounter/d2/add/send?delay=soon", "1")
            #expect(bad.status == 400 && bad.text.contains("ISO-8601"), "\(bad.status) \(bad.text)")
        }
    }

    @Test(
        "Awakeables: resolved over HTTP once (a second resolve is 409) and from another Python handler",
        arguments: PythonTransport.allCases
    )
    func awakeables(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let log = interop.python.file("awake.log")
            let sent = try await interop.call("/PyToolkit/awake/send", #"{"log": "\#(log)"}"#)
            let id = try #require(try sent.json()["invocationId"] as? String, "\(sent.status) \(sent.text)")
            try await interop.waitForLines(log, atLeast: 1)
            let awakeable = try #require(interop.python.lines(log).first)
            #expect(awakeable.hasPrefix("sign_1"), "\(awakeable)")
            let resolved = try await interop.call("/restate/awakeables/\(awakeable)/resolve", #""hello""#)
            #expect(resolved.status == 202, "\(resolved.status) \(resolved.text)")
            let result = try await interop.get("/restate/invocation/\(id)/attach")
            #expect(result.status == 200 && result.text == #""hello""#, "\(result.status) \(result.text)")
            let again = try await interop.call("/restate/awakeables/\(awakeable)/resolve", #""again""#)
            #expect(again.status == 404 || again.status == 409, "\(again.status) \(again.text)")
            let malformed = try await interop.call("/restate/awakeables/sign_1nope/resolve", #""x""#)
            #expect(malformed.status == 400, "\(malformed.status) \(malformed.text)")

            let log2 = interop.python.file("awake2.log")
            let second = try await interop.call("/PyToolkit/awake/send", #"{"log": "\#(log2)"}"#)
            let secondID = try #require(try second.json()["invocationId"] as? String)
            try await interop.waitForLines(log2, atLeast: 1)
            let other = try #require(interop.python.lines(log2).first)
            let byHandler = try await interop.call(
                "/PyToolkit/resolver",
                #"{"id": "\#(other)", "value": "from python"}"#
            )
            #expect(byHandler.status == 200, "\(byHandler.status) \(byHandler.text)")
            let secondResult = try await interop.get("/restate/invocation/\(secondID)/attach")
            #expect(secondResult.text == #""from python""#, "\(secondResult.status) \(secondResult.text)")
        }
    }

    @Test(
        "Workflow: run waits for a promise a shared handler resolves; run is once per key",
        arguments: PythonTransport.allCases
    )
    func workflow(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let sent = try await interop.call("/PyApproval/w1/run/send", "{}")
            #expect(sent.status == 202, "\(sent.status) \(sent.text)")
            #expect(try sent.json()["status"] as? String == "Accepted")
            try await interop.waitFor("/PyApproval/w1/status", toRead: #""waiting""#)
            #expect(try await interop.get("/PyApproval/w1/peek").text == #""pending""#)
            let output = try await interop.get("/restate/workflow/PyApproval/w1/output")
            #expect(output.status == 470, "\(output.status) \(output.text)")

            let duplicate = try await interop.call("/PyApproval/w1/run/send", "{}")
            #expect(try duplicate.json()["status"] as? String == "PreviouslyAccepted", "\(duplicate.text)")
            #expect(try duplicate.json()["invocationId"] as? String == (try sent.json()["invocationId"] as? String))

            let decided = try await interop.call("/PyApproval/w1/decide", #""yes""#)
            #expect(decided.status == 200, "\(decided.status) \(decided.text)")
            let result = try await interop.get("/restate/workflow/PyApproval/w1/attach")
            #expect(result.status == 200 && result.text == #""approved: yes""#, "\(result.status) \(result.text)")
            #expect(try await interop.get("/PyApproval/w1/peek").text == #""yes""#)
            #expect(try await interop.get("/PyApproval/w1/status").text == #""decided""#)

            let twice = try await interop.call("/PyApproval/w1/decide", #""no""#)
            #expect(twice.status == 409, "a promise resolved twice: \(twice.status) \(twice.text)")
            let call = try await interop.call("/PyApproval/w1/run", "{}")
            #expect(call.status == 409, "a second run call: \(call.status) \(call.text)")
        }
    }

    @Test(
        "Workflow across kill -9: the promise is resolved after a restart and the run completes",
        arguments: PythonTransport.allCases
    )
    func workflowAcrossCrash(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let sent = try await interop.call("/PyApproval/w2/run/send", "{}")
            #expect(sent.status == 202, "\(sent.status) \(sent.text)")
            try await interop.waitFor("/PyApproval/w2/status", toRead: #""waiting""#)
            interop.keel.kill()
            try await interop.keel.start(client: interop.client)
            let decided = try await interop.call("/PyApproval/w2/decide", #""later""#)
            #expect(decided.status == 200, "\(decided.status) \(decided.text)")
            let result = try await interop.get("/restate/workflow/PyApproval/w2/attach")
            #expect(result.text == #""approved: later""#, "\(result.status) \(result.text)")
        }
    }

    @Test(
        "Cancel reaches a sleeping handler as 409 and its compensation runs; kill ends one without it",
        arguments: PythonTransport.allCases
    )
    func cancelAndKill(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let log = interop.python.file("cancel.log")
            let sent = try await interop.call("/PyToolkit/patient/send", #"{"log": "\#(log)"}"#)
            let id = try #require(try sent.json()["invocationId"] as? String, "\(sent.status) \(sent.text)")
            try await Task.sleep(for: .milliseconds(500))
            let cancelled = try await interop.operate("cancel", id)
            #expect(cancelled.status == 202, "\(cancelled.status) \(cancelled.text)")
            let result = try await interop.get("/restate/invocation/\(id)/attach")
            #expect(result.status == 409, "\(result.status) \(result.text)")
            #expect(interop.python.lines(log) == ["compensated 409"])
            let again = try await interop.operate("cancel", id)
            #expect(again.status == 409, "cancelling a completed invocation: \(again.status) \(again.text)")

            let killLog = interop.python.file("kill.log")
            let victim = try await interop.call("/PyToolkit/patient/send", #"{"log": "\#(killLog)"}"#)
            let victimID = try #require(try victim.json()["invocationId"] as? String)
            try await Task.sleep(for: .milliseconds(500))
            let killed = try await interop.operate("kill", victimID)
            #expect(killed.status == 200, "\(killed.status) \(killed.text)")
            let killedResult = try await interop.get("/restate/invocation/\(victimID)/attach")
            #expect(
                killedResult.status == 409 && killedResult.text.contains("killed"),
                "\(killedResult.status) \(killedResult.text)"
            )
            #expect(interop.python.lines(killLog).isEmpty)
            let purged = try await interop.operate("purge", victimID)
            #expect(purged.status == 200, "\(purged.status) \(purged.text)")
            #expect(try await interop.get("/restate/invocation/\(victimID)/output").status == 404)
        }
    }

    /// Sends `PyCaller/callPatient` (a parent calling a child that sleeps) and waits until the parent is
    /// suspended on the child. Returns the compensation log, the parent's and the child's ids.
    private static func parentWaitingOnSleepingChild(
        _ interop: PythonInterop,
        name: String
    ) async throws -> (log: String, parent: String, child: String) {
        let log = interop.python.file("\(name).log")
        let children = interop.python.file("\(name)-children.log")
        let sent = try await interop.call(
            "/PyCaller/callPatient/send",
            #"{"log": "\#(log)", "children": "\#(children)"}"#
        )
        let parent = try #require(try sent.json()["invocationId"] as? String, "\(sent.status) \(sent.text)")
        try await interop.waitForLines(children, atLeast: 1)
        let child = try #require(interop.python.lines(children).first)
        try await interop.waitForStatus(parent, "suspended")
        return (log, parent, child)
    }

    @Test(
        "Kill is recursive: killing a parent that waits for a sleeping child kills the child, without compensations",
        arguments: PythonTransport.allCases
    )
    func recursiveKill(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let (log, parent, child) = try await Self.parentWaitingOnSleepingChild(interop, name: "recursive-kill")
            let killed = try await interop.operate("kill", parent)
            #expect(killed.status == 200, "\(killed.status) \(killed.text)")
            let parentResult = try await interop.get("/restate/invocation/\(parent)/attach")
            #expect(
                parentResult.status == 409 && parentResult.text.contains("killed"),
                "\(parentResult.status) \(parentResult.text)"
            )
            let childResult = try await interop.get("/restate/invocation/\(child)/attach")
            #expect(
                childResult.status == 409 && childResult.text.contains("killed"),
                "the child: \(childResult.status) \(childResult.text)"
            )
            #expect(
                interop.python.lines(log).isEmpty,
                "a killed child ran its compensation: \(interop.python.lines(log))"
            )
        }
    }

    @Test(
        "Cancel propagates: cancelling a parent that waits for a sleeping child cancels the child, which compensates",
        arguments: PythonTransport.allCases
    )
    func cancelPropagates(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let (log, parent, child) = try await Self.parentWaitingOnSleepingChild(interop, name: "propagate")
            let cancelled = try await interop.operate("cancel", parent)
            #expect(cancelled.status == 202, "\(cancelled.status) \(cancelled.text)")
            let parentResult = try await interop.get("/restate/invocation/\(parent)/attach")
            #expect(parentResult.status == 409, "\(parentResult.status) \(parentResult.text)")
            let childResult = try await interop.get("/restate/invocation/\(child)/attach")
            #expect(childResult.status == 409, "the child: \(childResult.status) \(childResult.text)")
            #expect(interop.python.lines(log) == ["compensated 409"])
        }
    }

    @Test(
        "Saga: step 3 fails terminally; the compensations registered before each step run in reverse, once",
        arguments: PythonTransport.allCases
    )
    func saga(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let log = interop.python.file("saga.log")
            let response = try await interop.call("/PyToolkit/saga", #"{"log": "\#(log)", "failAt": 3}"#)
            #expect(response.status == 400, "\(response.status) \(response.text)")
            #expect(interop.python.lines(log) == ["step 1", "step 2", "undo 3", "undo 2", "undo 1"])
        }
    }
}

extension PythonToolkitTests {
    @Test(
        "Retry policies from the manifest: one handler is killed after 3 attempts, another pauses after 2 and resumes once fixed",
        arguments: PythonTransport.allCases
    )
    func retryPolicies(_ transport: PythonTransport) async throws {
        try await withPythonInterop(transport) { interop in
            let log = interop.python.file("give-up.log")
            let started = ContinuousClock.now
            let killed = try await interop.call("/PyToolkit/giveUp", #"{"log": "\#(log)"}"#)
            #expect(killed.status == 500 && killed.text.contains("still broken"), "\(killed.status) \(killed.text)")
            #expect(interop.python.lines(log).count == 3)
            #expect(ContinuousClock.now - started < .seconds(10), "the handler's 50 ms backoff was not used")

            let fix = interop.python.file("fixed")
            let sent = try await interop.call("/PyToolkit/pauseUntilFixed/send", #"{"fix": "\#(fix)"}"#)
            let id = try #require(try sent.json()["invocationId"] as? String, "\(sent.status) \(sent.text)")
            try await interop.waitForStatus(id, "paused")
            let early = try await interop.operate("resume", "inv_1unknownunknownunknownunknown1234")
            #expect(early.status == 400 || early.status == 404, "\(early.status) \(early.text)")
            FileManager.default.createFile(atPath: fix, contents: Data())
            let resumed = try await interop.operate("resume", id)
            #expect(resumed.status == 200, "\(resumed.status) \(resumed.text)")
            let result = try await interop.get("/restate/invocation/\(id)/attach")
            #expect(result.text == #""fixed""#, "\(result.status) \(result.text)")
            let again = try await interop.operate("resume", id)
            #expect(again.status == 409, "resuming a completed invocation: \(again.status) \(again.text)")
        }
    }
}
