import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#endif

/// The services of `Tests/Interop/python/services.py`, written with Restate's Python SDK, served by hypercorn as a
/// child process on a free loopback port (HTTP/1.1 and h2c on the same port).
///
/// The interpreter is `.venv-interop/bin/python` in the package root (or `KEEL_INTEROP_PYTHON`), made by
/// `scripts/setup-python-interop.sh`. Without it `start` throws: the interop tests must never pass by skipping.
final class PythonEndpoint: @unchecked Sendable {
    /// What Restate sends on discovery; the Python SDK answers 415 to `*/*` (curl's default) and to no v2–v5.
    static let discoveryAccept = [1, 2, 3, 4].map { "application/vnd.restate.endpointmanifest.v\($0)+json" }
        .joined(separator: ", ")

    /// The package root, from this file's place: `<root>/Tests/KeelIntegrationTests/Support/PythonEndpoint.swift`.
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var servicesDirectory: URL { packageRoot.appendingPathComponent("Tests/Interop/python") }

    static var python: URL {
        if let path = ProcessInfo.processInfo.environment["KEEL_INTEROP_PYTHON"] { return URL(fileURLWithPath: path) }
        return packageRoot.appendingPathComponent(".venv-interop/bin/python")
    }

    let port: Int
    /// A fresh directory for the files the services write (step logs, attempt counters) and hypercorn's log.
    let scratchDirectory: URL
    private let logURL: URL
    private var process: Process?

    /// The deployment URI to register with the admin API.
    var url: String { "http://127.0.0.1:\(port)" }

    /// Extra hypercorn command-line arguments.
    let hypercornArguments: [String]
    /// The request identity keys (`publickeyv1_…`) the endpoint requires (`identity_keys`); none: it accepts
    /// every request.
    let identityKeys: [String]

    init(hypercornArguments: [String] = [], identityKeys: [String] = []) throws {
        self.hypercornArguments = hypercornArguments
        self.identityKeys = identityKeys
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keel-py-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.scratchDirectory = directory
        self.logURL = directory.appendingPathComponent("hypercorn.log")
        self.port = try freeLoopbackPort()
    }

    /// A path in the scratch directory, for a service to write to.
    func file(_ name: String) -> String { scratchDirectory.appendingPathComponent(name).path }

    /// The lines of a file the services wrote (empty if it does not exist yet).
    func lines(_ path: String) -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map(String.init)
    }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// Starts `python -m hypercorn services:app --bind 127.0.0.1:<port>` and waits until `GET /discover` answers 200.
    func start(client: HTTPClient) async throws {
        let python = Self.python
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            throw PythonEndpointError(
                message: """
                    no Python interpreter for the interop tests at \(python.path).
                    Run `scripts/setup-python-interop.sh` from the package root first (it creates .venv-interop with \
                    restate-sdk==1.3.0 and hypercorn), or point KEEL_INTEROP_PYTHON at a python that has both.
                    """
            )
        }
        let process = Process()
        process.executableURL = python
        process.arguments = ["-m", "hypercorn", "services:app", "--bind", "127.0.0.1:\(port)"] + hypercornArguments
        process.currentDirectoryURL = Self.servicesDirectory
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        environment["KEEL_E2E_IDENTITY_KEYS"] = identityKeys.joined(separator: ",")
        process.environment = environment
        if !FileManager.default.fileExists(atPath: logURL.path) {
            _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logURL)
        try log.seekToEnd()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        self.process = process

        let deadline = ContinuousClock.now + .seconds(30)
        var last = "no answer"
        while ContinuousClock.now < deadline {
            guard process.isRunning else { break }
            do {
                let response = try await client.request(
                    .GET,
                    "\(url)/discover",
                    headers: [("accept", Self.discoveryAccept)]
                )
                // An endpoint that checks request identity refuses this unsigned probe with 401: it is up.
                if response.status == 200 || (!identityKeys.isEmpty && response.status == 401) { return }
                last = "\(response.status) \(response.text)"
            } catch {
                last = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        stop()
        throw PythonEndpointError(
            message: """
                the Python endpoint did not answer GET /discover (last: \(last)); is .venv-interop complete? \
                (re-run scripts/setup-python-interop.sh). hypercorn's log:
                \(self.log)
                """
        )
    }

    /// SIGTERM, then SIGKILL if hypercorn is still there after `grace`.
    func stop(grace: Duration = .seconds(5)) {
        guard let process else { return }
        self.process = nil
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + grace
        while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    func cleanUp() {
        stop()
        try? FileManager.default.removeItem(at: scratchDirectory)
    }

    deinit {
        if let process, process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
    }
}

struct PythonEndpointError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
