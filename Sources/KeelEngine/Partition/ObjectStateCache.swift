import Foundation
import KeelCore
import KeelStore

/// The state of virtual objects as their last exclusive invocation left it, for the next exclusive attempt
/// on the same object, which then needs no read from the store.
///
/// Only exclusive handlers write an object's state, one at a time under its lock, so the state a completed
/// exclusive invocation committed is the state the next one starts from. An entry is put when such an
/// invocation's completion is durable and taken (removed) by the next exclusive attempt on the object: any
/// other path (a kill, a failed attempt, a restart, a workflow) finds no entry and reads the store. Since
/// only a started exclusive attempt writes, and starting takes the entry, an entry is always the committed
/// state: shared handlers read it too (``peek(_:)``). Bounded in
/// objects and in bytes per object; when full, the oldest entry goes.
struct ObjectStateCache {
    /// A state map, by name, as an attempt sees it and changes it.
    typealias State = [Data: Data]

    let maxObjects: Int
    let maxBytesPerObject: Int
    private var entries: [ObjectAddress: State] = [:]
    /// Insertion order, for eviction; may name objects taken since (skipped then).
    private var order: [ObjectAddress] = []
    private var orderHead = 0

    init(maxObjects: Int = 1_024, maxBytesPerObject: Int = 16 * 1_024) {
        self.maxObjects = maxObjects
        self.maxBytesPerObject = maxBytesPerObject
    }

    var count: Int { entries.count }

    /// Removes and returns the state kept for `object`.
    mutating func take(_ object: ObjectAddress) -> State? {
        entries.removeValue(forKey: object)
    }

    /// The state kept for `object`, left in place (for shared handlers).
    func peek(_ object: ObjectAddress) -> State? {
        entries[object]
    }

    /// Keeps `state` for `object`, unless it is larger than the per-object bound (then any older entry goes).
    mutating func put(_ state: State, for object: ObjectAddress) {
        var bytes = 0
        for (name, value) in state { bytes += name.count + value.count }
        guard bytes <= maxBytesPerObject, maxObjects > 0 else {
            entries.removeValue(forKey: object)
            return
        }
        if entries.updateValue(state, forKey: object) == nil {
            order.append(object)
            while entries.count > maxObjects, orderHead < order.count {
                let oldest = order[orderHead]
                orderHead += 1
                if oldest != object { entries.removeValue(forKey: oldest) }
            }
        }
        // Keep the order list from growing without bound as entries come and go.
        if orderHead > 64, orderHead * 2 > order.count {
            order.removeFirst(orderHead)
            orderHead = 0
            order.removeAll { entries[$0] == nil }
        }
    }

    /// The state as the store returns it: entries ordered by name.
    static func entries(_ state: State) -> [StateEntry] {
        state.map { StateEntry(name: $0.key, value: $0.value) }.sorted { $0.name.lexicographicallyPrecedes($1.name) }
    }

    static func state(_ entries: [StateEntry]) -> State {
        var state = State(minimumCapacity: entries.count)
        for entry in entries { state[entry.name] = entry.value }
        return state
    }
}
