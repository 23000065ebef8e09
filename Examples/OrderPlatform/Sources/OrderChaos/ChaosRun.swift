import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import OrderPlatformKit

/// A deterministic generator (SplitMix64) for the orders and the kill times.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// One order as the clients saw it.
struct PlacedOrder: Sendable {
    var id: String
    var body: String
    /// When it was due and when its answer came (seconds from the run's start).
    var dueAt: Double
    var answeredAt: Double?
    /// 200 confirmed, 402 declined; nil: never answered.
    var status: Int?
    var sends = 0
}

actor Tally {
    var orders: [PlacedOrder] = []
    var kills: [(at: Double, restart: Double)] = []
    func record(_ order: PlacedOrder) { orders.append(order) }
    func kill(at: Double, restart: Double) { kills.append((at, restart)) }
}

/// What the run found.
struct ChaosOutcome {
    var table: String
    var summary: String
    var violations: [String]
    var html: String
}

final class ChaosRun: Sendable {
    let options: ChaosCommand
    let work: URL
    let bin: URL
    let ports: [String: Int]
    let ingress: Int
    let admin: Int
    let dashboard: Int
    let services: [ManagedProcess]
    let platform: ManagedProcess
    let start = Date()
    static let serviceNames = ["inventory", "payments", "email", "loyalty", "orders"]

    init(options: ChaosCommand) throws {
        self.options = options
        work = URL(fileURLWithPath: options.workDirectory)
        bin = URL(fileURLWithPath: options.binaries)
        try? FileManager.default.removeItem(at: work)
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        var ports: [String: Int] = [:]
        for name in Self.serviceNames { ports[name] = try freePort() }
        self.ports = ports
        ingress = try freePort()
        admin = try freePort()
        let dashboard = try freePort()
        self.dashboard = dashboard
        let work = self.work
        let bin = self.bin
        services = Self.serviceNames.map { name in
            var arguments = [
                name, "--port", "\(ports[name] ?? 0)", "--ledger", work.appendingPathComponent("\(name).sqlite").path,
            ]
            if name == "payments" { arguments += ["--timeout-rate", "\(options.timeoutRate)", "--hang-ms", "2500"] }
            return ManagedProcess(
                executable: bin.appendingPathComponent("order-services"),
                arguments: arguments,
                log: work.appendingPathComponent("\(name).log")
            )
        }
        platform = ManagedProcess(
            executable: bin.appendingPathComponent("order-platform"),
            arguments: [
                "--data-dir", work.appendingPathComponent("keel").path,
                "--ingress-bind", "127.0.0.1:\(ingress)", "--admin-bind", "127.0.0.1:\(admin)",
                "--analytics-dir", options.analyticsDirectory,
                "--email-max-attempts", "\(options.emailMaxAttempts)",
                "--email-max-interval-ms", "\(options.emailMaxIntervalMs)",
                "--dashboard-bind", "127.0.0.1:\(dashboard)",
            ] + Self.serviceNames.flatMap { ["--\($0)-url", "http://127.0.0.1:\(ports[$0] ?? 0)"] },
            log: work.appendingPathComponent("platform.log")
        )
    }

    var elapsed: Double { Date().timeIntervalSince(start) }

    func execute() async throws -> ChaosOutcome {
        defer {
            platform.kill()
            for service in services { service.kill() }
        }
        for service in services { try service.start() }
        try platform.start()
        try await waitForHealth(timeout: 60)
        print(
            "platform: ingress http://127.0.0.1:\(ingress), console http://127.0.0.1:\(admin)/ui/, dashboard http://127.0.0.1:\(dashboard)/"
        )
        var random = SplitMix(state: options.seed)
        let placed = (0..<options.orders).map { index in order(index, random: &random) }
        let loadSeconds = Double(options.orders) / options.rate
        let killTimes = (0..<options.kills).map { _ in Double.random(in: 0.05...0.95, using: &random) * loadSeconds }
            .sorted()
        let tally = Tally()
        let outageStart = 0.3 * loadSeconds
        let loadStart = elapsed
        try await withThrowingTaskGroup(of: Void.self) { group in
            let next = NextIndex()
            for _ in 0..<options.clients {
                group.addTask {
                    while let index = await next.take(below: placed.count) {
                        var order = placed[index]
                        let wait = loadStart + order.dueAt - self.elapsed
                        if wait > 0 { try await Task.sleep(for: .milliseconds(Int(wait * 1000))) }
                        order.dueAt += loadStart
                        await tally.record(try await self.place(order))
                    }
                }
            }
            group.addTask {
                for at in killTimes {
                    let wait = loadStart + at - self.elapsed
                    if wait > 0 { try await Task.sleep(for: .milliseconds(Int(wait * 1000))) }
                    let killedAt = self.elapsed
                    self.platform.kill()
                    try self.platform.start()
                    try await self.waitForHealth(timeout: 60)
                    await tally.kill(at: killedAt, restart: self.elapsed - killedAt)
                }
            }
            if options.emailOutage > 0 {
                group.addTask {
                    let wait = loadStart + outageStart - self.elapsed
                    if wait > 0 { try await Task.sleep(for: .milliseconds(Int(wait * 1000))) }
                    try await self.setEmailDown(seconds: self.options.emailOutage)
                }
            }
            try await group.waitForAll()
        }
        let outageEnd = loadStart + outageStart + Double(options.emailOutage)
        let results = await tally.orders
        let accepted = results.filter { $0.status == 200 || $0.status == 402 }.count
        // Drain: the post-order handlers finish; paused confirmations (an outage longer than their backoff) are
        // resumed in bulk once the email service is back.
        var resumed = 0
        var audit = try LedgerAudit.read(directory: work.path)
        let drainDeadline = elapsed + 180 + Double(options.emailOutage)
        while elapsed < drainDeadline {
            audit = try LedgerAudit.read(directory: work.path)
            if audit.confirmed + audit.declined >= accepted, audit.emails == audit.confirmed,
                audit.points == audit.confirmed
            {
                break
            }
            if elapsed > outageEnd, try await pausedConfirmations() > 0 { resumed += try await resumePaused() }
            try await Task.sleep(for: .milliseconds(500))
        }
        let revenue = try await dashboardMatches(audit)
        let kills = await tally.kills
        return report(
            results,
            audit: audit,
            revenueMatches: revenue,
            kills: kills,
            resumed: resumed,
            outage: options.emailOutage > 0 ? (loadStart + outageStart, outageEnd) : nil
        )
    }

    /// The index-th order: 1–3 items, a declined card for `declineRate` of them.
    func order(_ index: Int, random: inout SplitMix) -> PlacedOrder {
        let id = "order-\(index + 1)"
        let items = (0..<Int.random(in: 1...3, using: &random)).map { item in
            #"{"productId": "p-\#(Int.random(in: 1...50, using: &random))", "quantity": \#(Int.random(in: 1...3, using: &random)), "price": \#(Int.random(in: 500...20_000, using: &random))}"#
        }
        let declined = Double.random(in: 0..<1, using: &random) < options.declineRate
        let card = declined ? "pm_decline_\(index)" : "pm_card_\(index)"
        let body =
            #"{"orderId": "\#(id)", "userId": "user-\#(index % 97)", "paymentMethodId": "\#(card)", "items": [\#(items.joined(separator: ", "))]}"#
        return PlacedOrder(id: id, body: body, dueAt: Double(index) / options.rate)
    }

    /// Sends the order until it is answered (the same idempotency key each time, so a send after a kill attaches
    /// to the order already running).
    func place(_ order: PlacedOrder) async throws -> PlacedOrder {
        var order = order
        let deadline = elapsed + 300
        while elapsed < deadline {
            order.sends += 1
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(ingress)/orders/processOrder")
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.headers.add(name: "idempotency-key", value: order.id)
            request.body = .bytes(ByteBuffer(string: order.body))
            if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(60)),
                (try? await response.body.collect(upTo: 1 << 20)) != nil
            {
                let status = Int(response.status.code)
                if status == 200 || status == 402 {
                    order.status = status
                    order.answeredAt = elapsed
                    return order
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return order
    }

    func get(_ url: String) async throws -> Data {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        return Data(buffer: try await response.body.collect(upTo: 16 << 20))
    }

    func waitForHealth(timeout: Double) async throws {
        let deadline = elapsed + timeout
        while elapsed < deadline {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(admin)/health")
            request.method = .GET
            if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)),
                response.status.code == 200
            {
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ChaosError("the platform did not answer /health within \(Int(timeout)) s; see \(platform.log.path)")
    }

    func setEmailDown(seconds: Int) async throws {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(ports["email"] ?? 0)/_faults")
        request.method = .POST
        let until = Int64(Date().timeIntervalSince1970 * 1000) + Int64(seconds) * 1000
        request.body = .bytes(ByteBuffer(string: #"{"downUntilMs": \#(until)}"#))
        _ = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    }

    func pausedConfirmations() async throws -> Int {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(admin)/query")
        request.method = .POST
        request.headers.add(name: "accept", value: "application/json")
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(
            ByteBuffer(
                string:
                    #"{"query": "SELECT count(*) AS n FROM sys_invocation WHERE target_service_name = 'post-order' AND status = 'paused'"}"#
            )
        )
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = Data(buffer: try await response.body.collect(upTo: 1 << 20))
        let rows = (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["rows"] as? [[String: Any]]
        return (rows?.first?["n"] as? NSNumber)?.intValue ?? 0
    }

    /// `keel invocations resume --status paused --service post-order --yes`: the operator's bulk resume.
    func resumePaused() async throws -> Int {
        let paused = try await pausedConfirmations()
        let process = Process()
        process.executableURL = bin.appendingPathComponent("keel")
        process.arguments = [
            "invocations", "resume", "--status", "paused", "--service", "post-order", "--yes",
            "--admin-url", "http://127.0.0.1:\(admin)",
        ]
        let log = try FileHandle(forWritingTo: platform.log)
        try log.seekToEnd()
        process.standardOutput = log
        process.standardError = log
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? paused : 0
    }

    /// Whether the seed's dashboard pipe shows exactly the ledger's confirmed orders and revenue.
    func dashboardMatches(_ audit: LedgerAudit) async throws -> Bool {
        let deadline = elapsed + 30
        while elapsed < deadline {
            let body = try await get("http://127.0.0.1:\(ingress)/v0/pipes/revenue_dashboard.json")
            let rows =
                (try JSONSerialization.jsonObject(with: body) as? [String: Any])?["data"] as? [[String: Any]] ?? []
            let count = rows.compactMap { ($0["order_count"] as? NSNumber)?.intValue }.reduce(0, +)
            let revenue = rows.compactMap { ($0["revenue_usd"] as? NSNumber)?.doubleValue }.reduce(0, +)
            if count == audit.confirmed && Int64((revenue * 100).rounded()) == audit.confirmedTotal { return true }
            try await Task.sleep(for: .milliseconds(500))
        }
        return false
    }
}

actor NextIndex {
    var next = 0
    func take(below count: Int) -> Int? {
        guard next < count else { return nil }
        defer { next += 1 }
        return next
    }
}
