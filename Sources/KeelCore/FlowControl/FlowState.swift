import KeelProtocol

/// Concurrency slots and rate tokens, as pure rules: arrivals and ends come in, what to start, cancel or fail
/// comes out. One value holds every handler's groups (a group is one handler: `Service/handler`).
public struct ConcurrencyState: Sendable {
    public enum Decision: Hashable, Sendable {
        /// It takes a slot and runs now.
        case run
        /// It waits for a slot.
        case wait
        /// It ends at once with 409 (`cancelNewest`).
        case reject(String)
    }

    public enum Action: Hashable, Sendable {
        /// A waiting invocation took a slot: start it.
        case start(InvocationID)
        /// Cancel a running one (`cancelInProgress`).
        case cancel(InvocationID)
        /// A waiting one ends with 409 without starting (`cancelInProgress`).
        case fail(InvocationID, String)
    }

    private struct Group: Sendable {
        var rule: ConcurrencyRule
        var running: [String: [InvocationID]] = [:]
        var runningCount = 0
        var waiting: [String: [InvocationID]] = [:]
        /// Keys in order of first arrival, for round-robin.
        var keys: [String] = []
        var keyIndex: [String: Int] = [:]
        /// The index in `keys` of the key served last.
        var lastServed = -1

        func hasBudget() -> Bool { rule.maxRuns.map { runningCount < $0 } ?? true }

        func keyHasRoom(_ key: String) -> Bool { (running[key]?.count ?? 0) < rule.limit }

        mutating func remember(_ key: String) {
            guard keyIndex[key] == nil else { return }
            keyIndex[key] = keys.count
            keys.append(key)
        }

        mutating func take(_ id: InvocationID, key: String) {
            running[key, default: []].append(id)
            runningCount += 1
            lastServed = keyIndex[key] ?? lastServed
        }
    }

    private struct Member: Sendable {
        var group: String
        var key: String
        var running: Bool
    }

    private var groups: [String: Group] = [:]
    private var members: [InvocationID: Member] = [:]
    private var cancelling: Set<InvocationID> = []

    public init() {}

    /// Whether `id` holds a slot or waits for one.
    public func isTracked(_ id: InvocationID) -> Bool { members[id] != nil }

    public func isRunning(_ id: InvocationID) -> Bool { members[id]?.running == true }

    /// The group `id` runs or waits in.
    public func group(of id: InvocationID) -> String? { members[id]?.group }

    /// How many run and wait in `group` for `key` (for tests and introspection).
    public func counts(group: String, key: String) -> (running: Int, waiting: Int) {
        (groups[group]?.running[key]?.count ?? 0, groups[group]?.waiting[key]?.count ?? 0)
    }

    /// Forgets the groups `forgets` names, with their members (their slots are kept elsewhere from now on: a
    /// cluster node gave up the partition keeping them). Returns the members forgotten, running or not.
    public mutating func forgetGroups(where forgets: (String) -> Bool) -> [(id: InvocationID, running: Bool)] {
        let names = groups.keys.filter(forgets)
        guard !names.isEmpty else { return [] }
        let forgotten = Set(names)
        var members: [(id: InvocationID, running: Bool)] = []
        for (id, member) in self.members where forgotten.contains(member.group) {
            members.append((id, member.running))
            self.members[id] = nil
            cancelling.remove(id)
        }
        for name in names { groups[name] = nil }
        return members
    }

    /// An invocation that holds a slot whatever the limit (a suspended or paused one found at start: a slot is
    /// held until completion, suspension included).
    public mutating func occupy(_ id: InvocationID, group: String, key: String, rule: ConcurrencyRule) {
        guard members[id] == nil else { return }
        groups[group, default: Group(rule: rule)].rule = rule
        groups[group]?.remember(key)
        groups[group]?.take(id, key: key)
        members[id] = Member(group: group, key: key, running: true)
    }

    /// An invocation of a limited handler is ready to start.
    public mutating func arrive(
        _ id: InvocationID,
        group name: String,
        key: String,
        rule: ConcurrencyRule
    ) -> (decision: Decision, actions: [Action]) {
        if let member = members[id] { return (member.running ? .run : .wait, []) }
        var group = groups[name] ?? Group(rule: rule)
        group.rule = rule
        group.remember(key)
        defer { groups[name] = group }
        let keyFull = !group.keyHasRoom(key)
        if !keyFull, group.hasBudget(), group.waiting[key]?.isEmpty ?? true {
            group.take(id, key: key)
            members[id] = Member(group: name, key: key, running: true)
            return (.run, [])
        }
        switch rule.strategy {
        case .cancelNewest where keyFull:
            return (
                .reject(
                    "the concurrency limit of \(name) (\(rule.limit) per key) is reached for key '\(key)' (cancelNewest)"
                ), []
            )
        case .cancelInProgress where keyFull:
            var actions: [Action] = []
            for older in group.waiting[key] ?? [] {
                members[older] = nil
                actions.append(.fail(older, "superseded by a newer invocation for key '\(key)' (cancelInProgress)"))
            }
            group.waiting[key] = [id]
            let running = group.running[key] ?? []
            let excess = running.count - rule.limit + 1
            for older in running.prefix(max(excess, 0)) where !cancelling.contains(older) {
                cancelling.insert(older)
                actions.append(.cancel(older))
            }
            members[id] = Member(group: name, key: key, running: false)
            return (.wait, actions)
        default:
            group.waiting[key, default: []].append(id)
            members[id] = Member(group: name, key: key, running: false)
            return (.wait, [])
        }
    }

    /// An invocation ended (or left before starting): its slot goes to the next waiting one, keys served
    /// round-robin in order of first arrival.
    public mutating func ended(_ id: InvocationID) -> [Action] {
        guard let member = members.removeValue(forKey: id), var group = groups[member.group] else { return [] }
        cancelling.remove(id)
        if member.running {
            group.running[member.key]?.removeAll { $0 == id }
            group.runningCount -= 1
        } else {
            group.waiting[member.key]?.removeAll { $0 == id }
        }
        var actions: [Action] = []
        while group.hasBudget(), !group.keys.isEmpty {
            var started = false
            for step in 1...group.keys.count {
                let index = (group.lastServed + step) % group.keys.count
                let key = group.keys[index]
                guard group.keyHasRoom(key), let next = group.waiting[key]?.first else { continue }
                group.waiting[key]?.removeFirst()
                group.take(next, key: key)
                members[next]?.running = true
                actions.append(.start(next))
                started = true
                break
            }
            if !started { break }
        }
        groups[member.group] = group
        return actions
    }
}

/// Rate limits as token buckets (GCRA): each start takes a token; a bucket refills `limit` tokens per
/// `period`, evenly, and holds at most `limit`. A start over the limit is given the instant its token is free.
public struct RateState: Sendable {
    /// Per bucket, the theoretical arrival time of the next token (epoch ms).
    private var theoretical: [String: Int64] = [:]

    public init() {}

    /// When a start in bucket `bucket` may happen (at `now` or later, reserving that token); nil when it would
    /// have to wait and the rule rejects instead.
    public mutating func take(_ bucket: String, rule: RateRule, now: Int64) -> Int64? {
        let (interval, tolerance) = Self.spacing(rule)
        let arrival = max(theoretical[bucket] ?? now, now)
        let allowedAt = arrival.saturatingSubtracting(tolerance)
        let start = max(allowedAt, now)
        if start > now, rule.onExceeded == .reject { return nil }
        theoretical[bucket] = arrival.saturatingAdding(interval)
        return start
    }

    /// A rule's spacing between tokens, and how far ahead of it a burst may start (milliseconds).
    public static func spacing(_ rule: RateRule) -> (interval: Int64, tolerance: Int64) {
        let interval = max(rule.period / Int64(max(rule.limit, 1)), 1)
        return (interval, interval.saturatingMultiplied(by: Int64(max(rule.limit, 1) - 1)))
    }
}
