import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import Testing

extension StoreConformance {
    func journalKeepsIndexOrder() async throws {
        let first = Self.id(1)
        let second = Self.id(2)
        let entries = [
            Self.entry(0x0400, "input"),
            JournalEntry(type: 0, payload: Data()),
            JournalEntry(type: UInt16.max, payload: Data([0, 255, 0])),
            Self.entry(0x0c01, "sleep"),
            Self.entry(0x0c02, "woke"),
        ]
        try await withFreshStore { store, _ in
            try await store.apply([
                .insertInvocation(Self.record(first, sequence: 1)),
                .insertInvocation(Self.record(second, sequence: 2)),
                .appendJournal(first, index: 1, entry: entries[1]),
                .appendJournal(second, index: 0, entry: Self.entry(9, "other")),
                .appendJournal(first, index: 0, entry: entries[0]),
                .appendJournal(first, index: 2, entry: entries[2]),
            ])
            try await store.apply([
                .appendJournal(first, index: 4, entry: entries[4]),
                .appendJournal(first, index: 3, entry: entries[3]),
            ])
            #expect(try await store.journal(of: first) == entries)
            #expect(try await store.journal(of: second) == [Self.entry(9, "other")])
        }
    }

    func stateIsScopedToItsObject() async throws {
        let a = ObjectAddress(service: "Counter", key: "a")
        let b = ObjectAddress(service: "Counter", key: "b")
        let otherService = ObjectAddress(service: "Cart", key: "a")
        let count = Data("count".utf8)
        let total = Data("total".utf8)
        try await withFreshStore { store, _ in
            try await store.apply([
                .setState(a, name: count, value: Data("1".utf8)),
                .setState(a, name: total, value: Data("10".utf8)),
                .setState(b, name: count, value: Data("2".utf8)),
                .setState(otherService, name: count, value: Data("3".utf8)),
            ])
            try await store.apply([.setState(a, name: count, value: Data("4".utf8))])
            #expect(
                try await store.state(of: a)
                    == [
                        StateEntry(name: count, value: Data("4".utf8)), StateEntry(name: total, value: Data("10".utf8)),
                    ]
            )

            try await store.apply([.clearState(a, name: total), .clearState(a, name: Data("never-set".utf8))])
            #expect(try await store.state(of: a) == [StateEntry(name: count, value: Data("4".utf8))])

            try await store.apply([.clearAllState(a)])
            #expect(try await store.state(of: a).isEmpty)
            #expect(try await store.state(of: b) == [StateEntry(name: count, value: Data("2".utf8))])
            #expect(try await store.state(of: otherService) == [StateEntry(name: count, value: Data("3".utf8))])
        }
    }

    func stateIsOrderedByName() async throws {
        let object = Self.counter
        let names = [Data(), Data([0]), Data([0, 0]), Data([1]), Data("A".utf8), Data("a".utf8), Data([0xFF])]
        try await withFreshStore { store, _ in
            try await store.apply(
                names.reversed().map { .setState(object, name: $0, value: $0.isEmpty ? Data() : Data([7])) }
            )
            let state = try await store.state(of: object)
            #expect(state.map(\.name) == names)
            #expect(state.first?.value == Data())
        }
    }
}
