import Foundation
import Keel
import KeelCore
import KeelEngine
import KeelSQLite
import ServiceLifecycle
import Testing

@Suite("The engine, with embedded services on a real SQLite store")
struct EngineTests {
    @Test("a call runs the handler and returns its output")
    func call() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keel-engine-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SQLiteStore(directory: directory)
        let greeter = Service("Greeter").handler("greet") { (_: Context, name: String) in "Hello, \(name)!" }
        let engine = Engine(store: store, endpoints: [Endpoint(greeter)])
        try await engine.recover()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            let (_, result) = try await engine.call(.init(target: InvocationTarget(service: "Greeter", handler: "greet"), body: Data("\"World\"".utf8)))
            #expect(result == .success(Data("\"Hello, World!\"".utf8)))
            group.cancelAll()
        }
    }
}
