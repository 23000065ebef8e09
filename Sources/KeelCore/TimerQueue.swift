/// Deadlines of one partition (durable timers, delayed invocations, retries, its inactivity sweep), ordered by
/// due time: the partition sleeps until `nextDeadline` and takes `popDue(now:)` when it wakes.
///
/// Pure: time is an input. Each key is in the queue at most once; scheduling a key again moves it. Entries
/// due at the same instant come out in the order they were scheduled.
public struct TimerQueue<Key: Hashable & Sendable>: Sendable {
    private struct Entry: Sendable {
        var due: Int64
        var order: UInt64
        var key: Key

        func precedes(_ other: Entry) -> Bool {
            due != other.due ? due < other.due : order < other.order
        }
    }

    /// A binary min-heap; entries whose key was cancelled or moved stay until they reach the top.
    private var heap: [Entry] = []
    /// The live entry of each key: its due time and scheduling order.
    private var live: [Key: (due: Int64, order: UInt64)] = [:]
    private var nextOrder: UInt64 = 0

    public init() {}

    public var count: Int { live.count }
    public var isEmpty: Bool { live.isEmpty }

    public func contains(_ key: Key) -> Bool { live[key] != nil }

    /// Every scheduled key with its due time, earliest first.
    public var entries: [(key: Key, due: Int64)] {
        live.map { (key: $0.key, due: $0.value.due, order: $0.value.order) }
            .sorted { $0.due != $1.due ? $0.due < $1.due : $0.order < $1.order }
            .map { (key: $0.key, due: $0.due) }
    }

    /// When `key` is due, if it is scheduled.
    public func deadline(of key: Key) -> Int64? { live[key]?.due }

    /// The earliest due time of any entry; nil when empty. (Every mutation leaves a live entry on top.)
    public var nextDeadline: Int64? { heap.first?.due }

    /// Schedules `key` at `due`, replacing its earlier schedule. Returns true when this makes `due` the
    /// queue's earliest deadline (the sleeper must wake earlier).
    @discardableResult
    public mutating func schedule(_ key: Key, at due: Int64) -> Bool {
        let earliest = nextDeadline
        nextOrder &+= 1
        live[key] = (due, nextOrder)
        push(Entry(due: due, order: nextOrder, key: key))
        dropStale()
        return earliest.map { due < $0 } ?? true
    }

    /// Schedules `key` at `due` unless it is scheduled already (a timer restored twice fires once). Returns
    /// true when it was added as the queue's earliest deadline, as `schedule` does.
    @discardableResult
    public mutating func scheduleOnce(_ key: Key, at due: Int64) -> Bool {
        guard live[key] == nil else { return false }
        return schedule(key, at: due)
    }

    /// Removes `key`; returns whether it was scheduled.
    @discardableResult
    public mutating func cancel(_ key: Key) -> Bool {
        defer { dropStale() }
        return live.removeValue(forKey: key) != nil
    }

    /// Removes and returns every key due at or before `now`, earliest first.
    public mutating func popDue(now: Int64) -> [Key] {
        var due: [Key] = []
        while let top = heap.first, top.due <= now {
            popTop()
            guard let current = live[top.key], current.order == top.order else { continue }
            live[top.key] = nil
            due.append(top.key)
        }
        dropStale()
        return due
    }

    // MARK: - Heap

    private mutating func dropStale() {
        while let top = heap.first {
            if let current = live[top.key], current.order == top.order { return }
            popTop()
        }
    }

    private mutating func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func popTop() {
        guard !heap.isEmpty else { return }
        heap.swapAt(0, heap.count - 1)
        heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var first = parent
            if left < heap.count, heap[left].precedes(heap[first]) { first = left }
            if right < heap.count, heap[right].precedes(heap[first]) { first = right }
            if first == parent { return }
            heap.swapAt(parent, first)
            parent = first
        }
    }
}
