import Foundation
import KeelCore
import KeelStore
import KeelStoreTesting
import KeelTestSupport
import Testing

@testable import KeelPostgres

@Suite("PostgresStore conformance", .enabled(if: PostgresTestServer.enabled, PostgresTestServer.skipMessage))
struct PostgresStoreConformanceTests {
    @Test("PostgresStore behaves as a Store", arguments: StoreConformance.Check.allCases)
    func conforms(to check: StoreConformance.Check) async throws {
        let server = try await PostgresTestServer.shared()
        let conformance = StoreConformance(freshDatabase: {
            let url = try await server.freshDatabase()
            return { try await PostgresStore.connect(try PostgresStoreConfiguration(url: url)) }
        })
        try await conformance.run(check)
    }
}

@Suite("PostgresStore", .enabled(if: PostgresTestServer.enabled, PostgresTestServer.skipMessage))
struct PostgresStoreTests {
    @Test("an unreachable server is refused at connect, naming the URL without its password")
    func unreachable() async throws {
        let port = try TestServers.freePort()
        let configuration = try PostgresStoreConfiguration(url: "postgres://keel:s3cret@127.0.0.1:\(port)/keel")
        let error = try await #require(throws: StoreError.self) {
            _ = try await PostgresStore.connect(configuration)
        }
        #expect(error.message.contains("postgres://keel:***@127.0.0.1:\(port)/keel"))
        #expect(!error.message.contains("s3cret"))
        #expect(error.message.contains("cannot reach"), "\(error)")
    }

    @Test("a database that does not exist is refused with the reason")
    func missingDatabase() async throws {
        let server = try await PostgresTestServer.shared()
        let configuration = try PostgresStoreConfiguration(url: server.url("no_such_database"))
        let error = try await #require(throws: StoreError.self) {
            _ = try await PostgresStore.connect(configuration)
        }
        #expect(error.message.contains("does not exist"), "\(error)")
    }

    @Test("a database migrated by a newer Keel is refused, and nothing is changed")
    func newerSchema() async throws {
        let server = try await PostgresTestServer.shared()
        let url = try await server.freshDatabase()
        let store = try await PostgresStore.connect(try PostgresStoreConfiguration(url: url))
        await store.close()
        let database = String(url.split(separator: "/").last?.split(separator: "?").first ?? "")
        _ = try await server.psql("INSERT INTO keel.migration VALUES ('v999', now())", database: database)
        let error = try await #require(throws: StoreError.self) {
            _ = try await PostgresStore.connect(try PostgresStoreConfiguration(url: url))
        }
        #expect(error.code == .schema)
        #expect(error.message.contains("v999"))
    }

    @Test("a NUL in a handler's failure message or a promise name does not fail the batch it rides in")
    func nulInFreeText() async throws {
        let server = try await PostgresTestServer.shared()
        let store = try await PostgresStore.connect(
            try PostgresStoreConfiguration(url: try await server.freshDatabase())
        )
        let failing = StoreConformance.id(1)
        let other = StoreConformance.id(2)
        let workflow = ObjectAddress(service: "Signup", key: "k")
        try await store.apply([
            .insertInvocation(StoreConformance.record(failing, sequence: 1)),
            .insertInvocation(StoreConformance.record(other, sequence: 2)),
            .updateStatus(failing, status: .invoked, retryCount: 1, lastFailure: "bad\u{0}byte", modifiedAt: 5),
            .completeInvocation(
                failing,
                result: .failure(Failure(code: 500, message: "boom\u{0}")),
                completedAt: 6,
                expiresAt: nil
            ),
            .completePromise(workflow, name: "p\u{0}", result: .success(Data("x".utf8))),
        ])
        #expect(try await store.invocation(other) != nil)
        let completed = try #require(try await store.invocation(failing))
        #expect(completed.result == .failure(Failure(code: 500, message: "boom\u{FFFD}")))
        #expect(completed.lastFailure == "bad\u{FFFD}byte")
        #expect(try await store.promise(workflow, name: "p\u{0}") == .success(Data("x".utf8)))
        await store.close()
    }

    @Test("with the database down, calls fail within the wait limit instead of hanging; once it is back they work")
    func databaseOutage() async throws {
        // A loaded CI machine can be slow to hand out even a pooled connection: retry what must succeed.
        func retrying<T>(_ body: () async throws -> T) async throws -> T {
            let deadline = ContinuousClock.now + .seconds(60)
            while true {
                do {
                    return try await body()
                } catch {
                    guard ContinuousClock.now < deadline else { throw error }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
        }
        let server = try await PostgresTestServer.start()
        var configuration = try PostgresStoreConfiguration(url: server.url())
        configuration.connectionWaitTimeout = .seconds(5)
        // A server just started on a loaded machine may take longer than the 5 s wait to hand out a connection.
        let store = try await retrying { try await PostgresStore.connect(configuration) }
        let before = StoreConformance.id(1)
        try await retrying { try await store.apply([.insertInvocation(StoreConformance.record(before, sequence: 1))]) }

        try await server.stop()
        let started = ContinuousClock.now
        let during = StoreConformance.id(2)
        await #expect(throws: StoreError.self) {
            try await store.apply([.insertInvocation(StoreConformance.record(during, sequence: 2))])
        }
        await #expect(throws: StoreError.self) { _ = try await store.invocation(before) }
        // Two calls, each failing after at most the 5 s wait: not hanging.
        #expect(ContinuousClock.now - started < .seconds(30))

        // The pool reconnects with a backoff once the server is back.
        try await server.restart()
        let after = StoreConformance.id(3)
        try await retrying {
            try await store.apply([.insertInvocation(StoreConformance.record(after, sequence: 3))])
        }
        #expect(try await retrying { try await store.unfinishedInvocations() }.map(\.id) == [before, after])
        await store.close()
        try await server.stop()
    }

    @Test("nodes connecting at once migrate one after another")
    func concurrentMigrations() async throws {
        let server = try await PostgresTestServer.shared()
        let url = try await server.freshDatabase()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    let store = try await PostgresStore.connect(try PostgresStoreConfiguration(url: url))
                    #expect(try await store.maxSequence() == 0)
                    await store.close()
                }
            }
            try await group.waitForAll()
        }
    }
}

@Suite("PostgresStoreConfiguration")
struct PostgresStoreConfigurationTests {
    @Test("a URL gives host, port, user, password, database and options")
    func parses() throws {
        let configuration = try PostgresStoreConfiguration(
            url: "postgresql://keel:p%40ss@db.example:6543/orders?sslmode=require&pool_size=4"
        )
        #expect(configuration.host == "db.example")
        #expect(configuration.port == 6543)
        #expect(configuration.username == "keel")
        #expect(configuration.password == "p@ss")
        #expect(configuration.database == "orders")
        #expect(configuration.tls == .require)
        #expect(configuration.poolSize == 4)
        #expect(configuration.redactedURL == "postgres://keel:***@db.example:6543/orders")
        let defaults = try PostgresStoreConfiguration(url: "postgres://localhost/keel")
        #expect(defaults.port == 5432)
        #expect(defaults.username == "postgres")
        #expect(defaults.tls == .prefer)
    }

    @Test(
        "a URL that is not usable is refused with the reason, its password hidden",
        arguments: [
            ("mysql://u:pw@host/db", "not a postgres://"),
            ("postgres://u:pw@/db", "no host"),
            ("postgres://u:pw@host", "no database"),
            ("postgres://u:pw@host/db?sslmode=sometimes", "sslmode"),
            ("postgres://u:pw@host/db?pool_size=0", "pool_size"),
            ("postgres://u:pw@host/db?colour=blue", "colour"),
        ]
    )
    func refuses(url: String, reason: String) {
        #expect {
            _ = try PostgresStoreConfiguration(url: url)
        } throws: { error in
            let message = (error as? StoreError)?.message ?? ""
            return message.contains(reason) && !message.contains("pw@") && message.contains("u:***@")
        }
    }
}

@Suite(
    "PostgresStore's introspection tables (/query)",
    .enabled(if: PostgresTestServer.enabled, PostgresTestServer.skipMessage)
)
struct PostgresIntrospectionTests {
    @Test("PostgresStore answers Restate's introspection queries", arguments: IntrospectionConformance.Check.allCases)
    func conforms(to check: IntrospectionConformance.Check) async throws {
        let server = try await PostgresTestServer.shared()
        let conformance = IntrospectionConformance(freshStore: {
            try await PostgresStore.connect(try PostgresStoreConfiguration(url: try await server.freshDatabase()))
        })
        try await conformance.run(check)
    }
}

@Suite("Partition leases on PostgreSQL", .enabled(if: PostgresTestServer.enabled, PostgresTestServer.skipMessage))
struct PostgresLeaseTests {
    static func configuration(
        _ url: String,
        node: String,
        partitions: Int = 4,
        lease: Duration = .seconds(5)
    ) throws -> PostgresStoreConfiguration {
        var configuration = try PostgresStoreConfiguration(url: url)
        configuration.ownership = .init(node: node, partitions: partitions, leaseDuration: lease)
        return configuration
    }

    @Test(
        "a standby waits while the owner renews; once the owner pauses past its lease it takes over, and the owner is fenced"
    )
    func standbyTakesOverAndFencesTheOwner() async throws {
        let server = try await PostgresTestServer.shared()
        let url = try await server.freshDatabase()
        let owner = try await PostgresStore.connect(try Self.configuration(url, node: "n1"))
        let first = StoreConformance.id(1)
        try await owner.apply([.insertInvocation(StoreConformance.record(first, sequence: 1))])
        let ownerFence = try #require(owner.leases.withLock { $0 }?.fence)
        #expect(ownerFence.partitions == [0, 1, 2, 3])
        #expect(ownerFence.epochs == [1, 1, 1, 1])

        let standby = Task { try await PostgresStore.connect(try Self.configuration(url, node: "n2")) }
        // The owner renews every 1.25 s: the standby is still waiting after more than a lease duration. (Leases
        // of 5 s, not less: on a loaded CI machine a renewal every quarter second came late.)
        try await Task.sleep(for: .seconds(6))
        try await owner.apply([.insertInvocation(StoreConformance.record(StoreConformance.id(2), sequence: 2))])

        // The owner's keeper pauses for 12 s, as a SIGSTOP would: its lease expires and the standby takes over.
        owner.leases.withLock { $0 }?.hold.withLock { $0 = .seconds(12) }
        let successor = try await standby.value
        let successorFence = try #require(successor.leases.withLock { $0 }?.fence)
        #expect(successorFence.epochs == [2, 2, 2, 2])
        // The owner stops by its own clock before the standby could take over...
        await #expect(throws: StoreError.self) {
            try await owner.apply([.insertInvocation(StoreConformance.record(StoreConformance.id(3), sequence: 3))])
        }
        // ...and a write already on its way under the old epochs is refused by the database itself.
        let stale = try BatchColumns([.insertInvocation(StoreConformance.record(StoreConformance.id(4), sequence: 4))])
        let refused = await #expect(throws: StoreError.self) {
            _ = try await successor.rows(stale.query(fence: ownerFence))
        }
        #expect(refused?.code == .fenced)
        // When its keeper wakes up, the owner learns it lost the partitions for good.
        let reason = await owner.ownershipLost()
        #expect(reason?.contains("another node took") == true, "\(reason ?? "nil")")
        let fenced = await #expect(throws: StoreError.self) { _ = try await owner.unfinishedInvocations() }
        #expect(fenced?.code == .fenced)

        try await successor.apply([.insertInvocation(StoreConformance.record(StoreConformance.id(5), sequence: 5))])
        #expect(
            try await successor.unfinishedInvocations().map(\.id) == [
                first, StoreConformance.id(2), StoreConformance.id(5),
            ]
        )
        await owner.close()
        await successor.close()
    }

    @Test("a clean stop releases the leases: the standby takes over at once; a restarted node takes its own back")
    func releaseAndRestart() async throws {
        let server = try await PostgresTestServer.shared()
        let url = try await server.freshDatabase()
        let lease = Duration.seconds(30)
        let owner = try await PostgresStore.connect(try Self.configuration(url, node: "n1", lease: lease))
        let standby = Task { try await PostgresStore.connect(try Self.configuration(url, node: "n2", lease: lease)) }
        try await Task.sleep(for: .milliseconds(500))
        let started = ContinuousClock.now
        await owner.close()
        let successor = try await standby.value
        #expect(ContinuousClock.now - started < .seconds(10))
        // n2 "crashes" (its leases stay live) and starts again under its name: it does not wait 30 s.
        successor.leases.withLock { $0 }?.hold.withLock { $0 = .seconds(3600) }
        let restarted = try await PostgresStore.connect(try Self.configuration(url, node: "n2", lease: lease))
        #expect(restarted.leases.withLock { $0 }?.fence.epochs == [3, 3, 3, 3])
        await restarted.close()
        await successor.close()
    }

    @Test(
        "nodes join with their address: the holder is found from the live leases, a standby is listed with its lag, a clean stop leaves"
    )
    func membership() async throws {
        let server = try await PostgresTestServer.shared()
        let url = try await server.freshDatabase()
        var first = try Self.configuration(url, node: "n1")
        first.ownership?.address = "127.0.0.1:7001"
        var second = try Self.configuration(url, node: "n2")
        second.ownership?.address = "127.0.0.1:7002"
        let owner = try await PostgresStore.connect(first, acquiring: false)
        // Joined, not yet holding: no holder, and the node is listed.
        #expect(try await owner.partitionHolder() == nil)
        #expect(try await owner.acquirePartitions(wait: false))
        let standby = try await PostgresStore.connect(second, acquiring: false)
        #expect(try await standby.acquirePartitions(wait: false) == false)
        let holder = try await standby.partitionHolder()
        #expect(holder?.name == "n1" && holder?.address == "127.0.0.1:7001", "\(String(describing: holder))")

        let status = try await standby.clusterStatus()
        #expect(status.nodes.map(\.name) == ["n1", "n2"])
        #expect(status.nodes.map(\.address) == ["127.0.0.1:7001", "127.0.0.1:7002"])
        #expect(status.nodes.allSatisfy { $0.lag >= 0 && $0.lag < 30_000 && $0.startedAt > 0 })

        // A clean stop releases the leases and removes the node: the standby takes over at once.
        await owner.close()
        #expect(try await standby.partitionHolder() == nil)
        #expect(try await standby.acquirePartitions(wait: false))
        #expect(try await standby.partitionHolder()?.name == "n2")
        #expect(try await standby.clusterStatus().nodes.map(\.name) == ["n2"])
        await standby.close()
    }

    @Test("two standbys trying at the same moment after a clean stop take turns: each takes half, none twice")
    func takeoversTakeTurns() async throws {
        let server = try await PostgresTestServer.shared()
        let url = try await server.freshDatabase()
        // Nodes count as live for a lease after they were last seen: a long one, so that a loaded machine's
        // delay between joining and trying does not leave n3 out of the count.
        let lease = Duration.seconds(30)
        let owner = try await PostgresStore.connect(try Self.configuration(url, node: "n1", lease: lease))
        let second = try await PostgresStore.connect(
            try Self.configuration(url, node: "n2", lease: lease),
            acquiring: false
        )
        let third = try await PostgresStore.connect(
            try Self.configuration(url, node: "n3", lease: lease),
            acquiring: false
        )
        await owner.close()
        async let secondTook = second.acquirePartitions(wait: false)
        async let thirdTook = third.acquirePartitions(wait: false)
        let took = try await [secondTook, thirdTook]
        #expect(took == [true, true], "\(took)")
        // The fair share of 4 partitions between 2 live nodes.
        #expect(second.heldPartitions().count == 2 && third.heldPartitions().count == 2)
        #expect(second.heldPartitions().isDisjoint(with: third.heldPartitions()))
        let leases = try await second.clusterStatus().leases
        #expect(leases.map(\.epoch) == [2, 2, 2, 2])
        #expect(Set(leases.compactMap(\.node)) == ["n2", "n3"])
        #expect(try await second.clusterSecret()?.count == 64)
        await second.close()
        await third.close()
    }

    @Test(
        "the outbox: a message is read by its partition in order, counted as that partition's lag, and deleted once; a second deletion fails the batch"
    )
    func outbox() async throws {
        let server = try await PostgresTestServer.shared()
        let url = try await server.freshDatabase()
        let store = try await PostgresStore.connect(try Self.configuration(url, node: "n1", lease: .seconds(30)))
        let arrivals = store.outboxArrivals()
        var woken = arrivals.makeAsyncIterator()
        // The first wake-up says the listener is in place (nothing is missed from then on).
        _ = await woken.next()
        try await store.apply([
            .insertOutbox(partition: 2, payload: Data("first".utf8)),
            .insertOutbox(partition: 3, payload: Data("other".utf8)),
            .insertOutbox(partition: 2, payload: Data("second".utf8)),
        ])
        // The insert's NOTIFY wakes the listener.
        _ = await woken.next()
        let messages = try await store.outbox(partitions: [2], limit: 10)
        #expect(messages.map { String(decoding: $0.payload, as: UTF8.self) } == ["first", "second"])
        #expect(messages.allSatisfy { $0.partition == 2 })
        #expect(try await store.outbox(partitions: [2, 3], limit: 2).count == 2)
        let leases = try await store.clusterStatus().leases
        #expect(leases.map(\.outboxPending) == [0, 0, 2, 1])
        #expect(leases[2].outboxLag.map { $0 >= 0 } == true && leases[0].outboxLag == nil)

        let first = try #require(messages.first)
        try await store.apply([.deleteOutbox(first.id)])
        let twice = await #expect(throws: StoreError.self) {
            try await store.apply([.insertOutbox(partition: 1, payload: Data()), .deleteOutbox(first.id)])
        }
        #expect(twice?.code == .constraint && twice?.message.contains("twice") == true, "\(String(describing: twice))")
        // Nothing of the failed batch was stored.
        #expect(try await store.outbox(partitions: [1, 2], limit: 10).map(\.id) == [messages[1].id])
        await store.close()
    }

    @Test(
        "a cluster's rate buckets in the database give the starts RateState gives for the same takes; a refused take takes nothing, and a purge forgets the buckets due already"
    )
    func sharedRateBuckets() async throws {
        let url = try await PostgresTestServer.shared().freshDatabase()
        let store = try await PostgresStore.connect(try PostgresStoreConfiguration(url: url))
        var model = RateState()
        // A fixed sequence from a small generator: buckets, rules, refusals and the clock's steps vary.
        var seed: UInt64 = 2_026_120_7
        func next(_ bound: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((seed >> 33) % UInt64(bound))
        }
        var now: Int64 = 1_800_000_000_000
        var refused = 0
        for _ in 0..<300 {
            now += Int64(next(120))
            let index = next(3)
            let bucket = "b\(index)"
            // One limit per bucket, as a handler's bucket has; some takes refuse rather than wait.
            let fixed = RateRule(
                key: .constant(bucket),
                limit: index + 2,
                period: 600,
                onExceeded: next(3) == 0 ? .reject : .wait
            )
            let (interval, tolerance) = RateState.spacing(fixed)
            let expected = model.take(bucket, rule: fixed, now: now)
            let taken = try await store.takeRateToken(
                bucket,
                now: now,
                interval: interval,
                tolerance: tolerance,
                reject: fixed.onExceeded == .reject
            )
            #expect(taken == expected, "\(bucket) at \(now)")
            if expected == nil { refused += 1 }
        }
        #expect(refused > 0, "the sequence never refused a take")
        // Every bucket's next token is due by now + a few seconds: a purge then leaves none.
        _ = try await store.purgeExpired(now: now + 60_000)
        let (interval, tolerance) = RateState.spacing(RateRule(key: .constant("b0"), limit: 2, period: 600))
        let fresh = try await store.takeRateToken(
            "b0",
            now: now,
            interval: interval,
            tolerance: tolerance,
            reject: true
        )
        #expect(fresh == now)
        await store.close()
    }

    @Test("the catalog's version counts the changes of deployments, handler limits and event subscriptions")
    func catalogVersion() async throws {
        let url = try await PostgresTestServer.shared().freshDatabase()
        let store = try await PostgresStore.connect(try PostgresStoreConfiguration(url: url))
        #expect(try await store.catalogVersion() == 0)
        try await store.saveHandlerLimits(
            HandlerLimitsRecord(service: "S", handler: "h", concurrency: #"{"limit":1}"#, rateLimits: nil, updatedAt: 1)
        )
        try await store.saveHandlerLimits(
            HandlerLimitsRecord(service: "S", handler: "h", concurrency: nil, rateLimits: nil, updatedAt: 2)
        )
        try await store.saveDeployment(
            DeploymentRecord(
                id: "dp_1",
                uri: "http://127.0.0.1:1",
                additionalHeaders: [:],
                useHTTP11: false,
                protocolVersion: 5,
                manifest: Data("{}".utf8),
                createdAt: 1
            )
        )
        try await store.saveEventSubscription(
            EventSubscriptionRecord(
                id: "sub_1",
                source: "event://default/a",
                sink: "service://S/h",
                options: [:],
                createdAt: 1
            )
        )
        #expect(try await store.deleteEventSubscription("sub_1"))
        #expect(try await store.catalogVersion() == 5)
        // Applying a batch is not a catalog change.
        try await store.apply([.insertOutbox(partition: 0, payload: Data())])
        #expect(try await store.catalogVersion() == 5)
        await store.close()
    }

    @Test("a node started with another partition count than the cluster's is refused, naming both")
    func partitionCountIsFixed() async throws {
        let server = try await PostgresTestServer.shared()
        let url = try await server.freshDatabase()
        let first = try await PostgresStore.connect(try Self.configuration(url, node: "n1", partitions: 4))
        await first.close()
        let error = await #expect(throws: StoreError.self) {
            _ = try await PostgresStore.connect(try Self.configuration(url, node: "n2", partitions: 8))
        }
        #expect(error?.message.contains("has 4 partitions") == true, "\(String(describing: error))")
        #expect(error?.message.contains("--partitions 4") == true)
    }
}
