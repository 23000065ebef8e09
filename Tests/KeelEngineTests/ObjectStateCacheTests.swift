import Foundation
import Keel
import KeelCore
import KeelProtocol
import KeelStore
import Testing

@testable import KeelEngine
@testable import KeelSQLite

@Suite("Object state kept from one exclusive invocation for the next")
struct ObjectStateCacheTests {
    private static func object(_ key: String) -> ObjectAddress { ObjectAddress(service: "Counter", key: key) }
    private static func state(_ pairs: [String: String]) -> ObjectStateCache.State {
        var state = ObjectStateCache.State()
        for (name, value) in pairs { state[Data(name.utf8)] = Data(value.utf8) }
        return state
    }

    @Test("an entry is taken once; entries come out ordered by name, as the store returns them")
    func takeOnce() {
        var cache = ObjectStateCache()
        cache.put(Self.state(["b": "2", "a": "1"]), for: Self.object("k"))
        let taken = cache.take(Self.object("k"))
        #expect(taken == Self.state(["a": "1", "b": "2"]))
        #expect(cache.take(Self.object("k")) == nil)
        #expect(
            ObjectStateCache.entries(Self.state(["b": "2", "a": "1"])).map { String(decoding: $0.name, as: UTF8.self) }
                == ["a", "b"]
        )
    }

    @Test("the oldest entry goes when the cache is full, and a state over the size bound is not kept")
    func bounded() {
        var cache = ObjectStateCache(maxObjects: 2, maxBytesPerObject: 8)
        cache.put(Self.state(["a": "1"]), for: Self.object("1"))
        cache.put(Self.state(["a": "2"]), for: Self.object("2"))
        cache.put(Self.state(["a": "3"]), for: Self.object("3"))
        #expect(cache.count == 2)
        #expect(cache.take(Self.object("1")) == nil)
        #expect(cache.take(Self.object("3")) == Self.state(["a": "3"]))
        cache.put(Self.state(["a": "3"]), for: Self.object("3"))
        cache.put(Self.state(["name": "too long"]), for: Self.object("3"))
        #expect(
            cache.take(Self.object("3")) == nil,
            "a state over the bound replaces nothing and drops the older entry"
        )
        for round in 0..<500 { cache.put(Self.state(["a": "\(round % 10)"]), for: Self.object("\(round)")) }
        #expect(cache.count == 2)
    }

    @Test(
        "exclusive and shared calls see the committed state; a killed invocation's committed writes are seen by the next calls, not the older kept state"
    )
    func killedWritesAreNotHidden() async throws {
        let probe = Probe()
        let counter = VirtualObject("Counter")
            .handler("add") { (ctx: ObjectContext, delta: Int) in
                let total = (try await ctx.get("count", as: Int.self) ?? 0) + delta
                try ctx.set("count", total)
                return total
            }
            .shared("get") { (ctx: ObjectSharedContext) in
                try await ctx.get("count", as: Int.self) ?? 0
            }
            .handler("setThenHang") { (ctx: ObjectContext, value: Int) in
                try ctx.set("count", value)
                try await ctx.run("hang") {
                    probe.hit("hanging")
                    while true { try await Task.sleep(for: .milliseconds(5)) }
                }
                return value
            }
        try await withEngine([counter]) { (engine: Engine) async throws in
            #expect(try await engine.call("Counter/add", key: "k", "5") == json("5"))
            #expect(try await engine.call("Counter/add", key: "k", "1") == json("6"))
            let id = try await engine.send(
                Engine.Request(
                    target: InvocationTarget(service: "Counter", handler: "setThenHang", key: "k"),
                    body: Data("42".utf8)
                )
            ).id
            let deadline = ContinuousClock.now + .seconds(10)
            while probe.count("hanging") == 0 {
                try #require(ContinuousClock.now < deadline)
                try await Task.sleep(for: .milliseconds(2))
            }
            // The hanging handler's write commits within the writer's lazy delay; a shared read sees it then.
            while try await engine.call("Counter/get", key: "k") != json("42") {
                try #require(
                    ContinuousClock.now < deadline,
                    "a shared read while the lock is held never saw the committed write"
                )
                try await Task.sleep(for: .milliseconds(2))
            }
            try await engine.kill(id)
            #expect(try await engine.call("Counter/get", key: "k") == json("42"))
            #expect(try await engine.call("Counter/add", key: "k", "1") == json("43"))
            #expect(try await engine.call("Counter/add", key: "k", "1") == json("44"))
            #expect(try await engine.call("Counter/get", key: "k") == json("44"))
        }
    }
}
