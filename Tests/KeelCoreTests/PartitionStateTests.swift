import KeelCore
import KeelProtocol
import Testing

@Suite("A partition's invocation lifecycle as pure rules (events in, actions out)")
struct PartitionStateTests {
    typealias Action = PartitionState.Action

    static let object = ObjectAddress(service: "Counter", key: "a")
    static func id(_ number: UInt128) -> InvocationID { InvocationID(partitionKey: 1, uuid: number) }
    static let (a, b, c) = (id(1), id(2), id(3))
    static let policy = RetryPolicy(initialInterval: .seconds(1), factor: 2, maxAttempts: 3, onMaxAttempts: .pause)
    static let floor = Duration.milliseconds(100)

    /// One event of a table, with the actions it must produce.
    enum Event: Sendable, CustomTestStringConvertible {
        case admit(InvocationID, locked: Bool = false, executeAt: Int64? = nil, now: Int64 = 0, InvocationStatus)
        case launch(InvocationID, [Action])
        case fail(InvocationID, generation: UInt64, now: Int64, [Action])
        case endWithoutFailure(InvocationID, generation: UInt64)
        /// The clock reached `now`: what is due.
        case due(now: Int64, [Action])
        case suspend(InvocationID, generation: UInt64, waiting: Set<NotificationAddress>, [Action])
        case notification(InvocationID, NotificationAddress?, [Action])
        case resume(InvocationID, freshBudget: Bool = false, [Action])
        case operatorPause(InvocationID, PartitionState.OperatorPause)
        case beginCompletion(InvocationID, Bool)
        case completionFailed(InvocationID)
        case finished(InvocationID, storedWithCompletion: InvocationID? = nil, [Action])
        /// An operator's state edit takes the object's lock under `editor` (or is refused), then leaves it.
        case beginStateEdit(editor: InvocationID, Bool)
        case endStateEdit(editor: InvocationID, [Action])
        /// Checks without changing anything.
        case expectStatus(InvocationID, InvocationStatus?)
        case expectTakesNotifications(InvocationID, Bool)
        case expectFailedAttempts(InvocationID, Int)
        case expectDeadlines(InvocationID, [Int64])

        var testDescription: String { "\(self)" }
    }

    static func run(_ events: [Event]) {
        var state = PartitionState()
        for (step, event) in events.enumerated() {
            let context = Comment(rawValue: "step \(step): \(event)")
            switch event {
            case .admit(let id, let locked, let executeAt, let now, let expected):
                let status = state.admit(id, lockedObject: locked ? object : nil, executeAt: executeAt, now: now)
                #expect(status == expected, context)
            case .launch(let id, let expected):
                #expect(state.launch(id) == expected, context)
            case .fail(let id, let generation, let now, let expected):
                let actions = state.attemptEnded(
                    id,
                    generation: generation,
                    failure: ("boom", nil),
                    policy: policy,
                    floor: floor,
                    now: now
                )
                #expect(actions == expected, context)
            case .endWithoutFailure(let id, let generation):
                let actions = state.attemptEnded(
                    id,
                    generation: generation,
                    failure: nil,
                    policy: policy,
                    floor: floor,
                    now: 0
                )
                #expect(actions.isEmpty, context)
            case .due(let now, let expected):
                #expect(state.due(now: now) == expected, context)
            case .suspend(let id, let generation, let waiting, let expected):
                let actions = state.suspended(id, generation: generation, waiting: waiting, journal: [nil], replayed: 1)
                #expect(actions == expected, context)
            case .notification(let id, let address, let expected):
                #expect(state.notificationStored(id, address: address) == expected, context)
            case .resume(let id, let freshBudget, let expected):
                #expect(state.resume(id, freshBudget: freshBudget) == expected, context)
            case .operatorPause(let id, let expected):
                #expect(state.pauseByOperator(id) == expected, context)
            case .beginCompletion(let id, let expected):
                #expect(state.beginCompletion(id) == expected, context)
            case .completionFailed(let id):
                state.completionFailed(id)
            case .finished(let id, let storedWithCompletion, let expected):
                #expect(state.finished(id, storedWithCompletion: storedWithCompletion) == expected, context)
            case .beginStateEdit(let editor, let expected):
                #expect(state.beginStateEdit(object, editor: editor) == expected, context)
            case .endStateEdit(let editor, let expected):
                #expect(state.endStateEdit(object, editor: editor) == expected, context)
            case .expectStatus(let id, let expected):
                #expect(state.status(of: id) == expected, context)
            case .expectTakesNotifications(let id, let expected):
                #expect(state.takesNotifications(id) == expected, context)
            case .expectFailedAttempts(let id, let expected):
                #expect(state[id]?.failedAttempts == expected, context)
            case .expectDeadlines(let id, let expected):
                #expect(state.deadlines(of: id) == expected, context)
            }
        }
    }

    static let paused = Action.storeStatus(a, .paused, lastFailure: "paused by an operator")

    @Test(
        "admission: an invocation runs, waits in its object's inbox, or waits for its start time",
        arguments: [
            [Event.admit(a, .invoked), .launch(a, [.startAttempt(a, generation: 1)])],
            [
                .admit(a, executeAt: 5_000, now: 1_000, .scheduled), .launch(a, [.wakeTimerLoop]),
                .expectDeadlines(a, [5_000]), .due(now: 4_999, []),
                .due(now: 5_000, [.storeStatus(a, .invoked, lastFailure: nil), .startAttempt(a, generation: 1)]),
                .expectDeadlines(a, []),
            ],
            // A start time in the past is now.
            [.admit(a, executeAt: 500, now: 1_000, .invoked), .launch(a, [.startAttempt(a, generation: 1)])],
            [
                .admit(a, locked: true, .invoked), .admit(b, locked: true, .inboxed), .launch(b, []),
                .expectTakesNotifications(b, false),
            ],
            // A delayed invocation that comes due while the lock is held joins the inbox; it runs after.
            [
                .admit(a, locked: true, .invoked), .admit(b, locked: true, executeAt: 10, now: 0, .scheduled),
                .launch(b, [.wakeTimerLoop]), .due(now: 10, [.storeStatus(b, .inboxed, lastFailure: nil)]),
                .finished(a, [.storeStatus(b, .invoked, lastFailure: nil), .startAttempt(b, generation: 1)]),
            ],
            // Deadlines come due in order; a later one does not wake the loop that sleeps until an earlier one.
            [
                .admit(a, executeAt: 20, now: 0, .scheduled), .launch(a, [.wakeTimerLoop]),
                .admit(b, executeAt: 30, now: 0, .scheduled), .launch(b, []),
                .admit(c, executeAt: 10, now: 0, .scheduled), .launch(c, [.wakeTimerLoop]),
                .due(
                    now: 30,
                    [
                        .storeStatus(c, .invoked, lastFailure: nil), .startAttempt(c, generation: 1),
                        .storeStatus(a, .invoked, lastFailure: nil), .startAttempt(a, generation: 1),
                        .storeStatus(b, .invoked, lastFailure: nil), .startAttempt(b, generation: 1),
                    ]
                ),
                .due(now: 40, []),
            ],
        ]
    )
    func admission(_ events: [Event]) { Self.run(events) }

    @Test(
        "failed attempts back off by the policy with time as an input, then pause; a success ends quietly",
        arguments: [
            [
                Event.admit(a, .invoked), .launch(a, [.startAttempt(a, generation: 1)]),
                .fail(
                    a,
                    generation: 1,
                    now: 10_000,
                    [.storeStatus(a, .invoked, lastFailure: "boom"), .wakeTimerLoop]
                ),
                .expectDeadlines(a, [11_000]), .due(now: 10_999, []),
                .due(now: 11_000, [.startAttempt(a, generation: 2)]),
                .fail(
                    a,
                    generation: 2,
                    now: 20_000,
                    [.storeStatus(a, .invoked, lastFailure: "boom"), .wakeTimerLoop]
                ),
                .expectDeadlines(a, [22_000]),
                .due(now: 22_000, [.startAttempt(a, generation: 3)]),
                .fail(a, generation: 3, now: 30_000, [.storeStatus(a, .paused, lastFailure: "boom"), .alertPaused(a)]),
                .expectStatus(a, .paused), .expectFailedAttempts(a, 3),
                // An operator's resume gives a fresh budget.
                .resume(
                    a,
                    freshBudget: true,
                    [.storeStatus(a, .invoked, lastFailure: nil), .startAttempt(a, generation: 4)]
                ),
                .expectFailedAttempts(a, 0),
            ],
            [
                .admit(a, .invoked), .launch(a, [.startAttempt(a, generation: 1)]),
                .endWithoutFailure(a, generation: 1), .expectFailedAttempts(a, 0), .expectStatus(a, .invoked),
            ],
        ]
    )
    func retries(_ events: [Event]) { Self.run(events) }

    @Test(
        "a state edit takes a free object's lock; it is refused while a holder runs or others wait; arrivals wait for it"
    )
    func stateEdits() {
        let editor = Self.id(99)
        let (a, b, c) = (Self.a, Self.b, Self.c)
        Self.run([
            // Free object: the edit holds the lock; an exclusive invocation arriving meanwhile waits in the inbox
            // and starts when the edit ends.
            .beginStateEdit(editor: editor, true),
            .admit(a, locked: true, .inboxed),
            .beginStateEdit(editor: Self.id(98), false),
            .endStateEdit(
                editor: editor,
                [.storeStatus(a, .invoked, lastFailure: nil), .startAttempt(a, generation: 1)]
            ),
            .expectStatus(a, .invoked),
            // Held by `a`, with `b` waiting: refused.
            .admit(b, locked: true, .inboxed),
            .beginStateEdit(editor: editor, false),
            .finished(a, [.storeStatus(b, .invoked, lastFailure: nil), .startAttempt(b, generation: 1)]),
            .beginStateEdit(editor: editor, false),
            .finished(b, []),
            // Free again; an edit that ends with nobody waiting hands over to nobody.
            .beginStateEdit(editor: editor, true),
            .endStateEdit(editor: editor, []),
            .admit(c, locked: true, .invoked),
        ])
    }

    @Test("the policy's kill completes the invocation with the attempt's failure")
    func killOnExhaustion() {
        var state = PartitionState()
        _ = state.admit(Self.a, lockedObject: nil, executeAt: nil, now: 0)
        _ = state.launch(Self.a)
        let actions = state.attemptEnded(
            Self.a,
            generation: 1,
            failure: ("no luck", nil),
            policy: RetryPolicy(maxAttempts: 1, onMaxAttempts: .kill),
            floor: Self.floor,
            now: 0
        )
        #expect(actions == [.complete(Self.a, Failure(code: 500, message: "no luck"))])
    }

    @Test(
        "reentrancy: what an older attempt or an earlier deadline reports after the invocation moved on changes nothing",
        arguments: [
            // The attempt ends (failing) after an operator paused the invocation: no retry, no count.
            [
                Event.admit(a, .invoked), .launch(a, [.startAttempt(a, generation: 1)]),
                .operatorPause(a, .paused([.abandonAttempt(a), paused])),
                .fail(a, generation: 1, now: 0, []),
                .expectStatus(a, .paused), .expectFailedAttempts(a, 0),
                .operatorPause(a, .alreadyPaused),
            ],
            // A retry armed before an operator's pause and resume fires after them: the resumed attempt runs
            // alone.
            [
                .admit(a, .invoked), .launch(a, [.startAttempt(a, generation: 1)]),
                .fail(
                    a,
                    generation: 1,
                    now: 0,
                    [.storeStatus(a, .invoked, lastFailure: "boom"), .wakeTimerLoop]
                ),
                .operatorPause(a, .paused([.abandonAttempt(a), paused])),
                .resume(a, [.storeStatus(a, .invoked, lastFailure: nil), .startAttempt(a, generation: 3)]),
                .due(now: 1_000, []),
            ],
            // A retry that comes due while the invocation's completion is being stored (a kill) starts nothing.
            [
                .admit(a, .invoked), .launch(a, [.startAttempt(a, generation: 1)]),
                .fail(
                    a,
                    generation: 1,
                    now: 0,
                    [.storeStatus(a, .invoked, lastFailure: "boom"), .wakeTimerLoop]
                ),
                .beginCompletion(a, true), .due(now: 1_000, []),
            ],
            // A suspension reported by an attempt that was superseded is ignored.
            [
                .admit(a, .invoked), .launch(a, [.startAttempt(a, generation: 1)]),
                .operatorPause(a, .paused([.abandonAttempt(a), paused])),
                .suspend(a, generation: 1, waiting: [.completion(1)], []),
                .expectStatus(a, .paused),
            ],
            // Events about an invocation the partition no longer holds change nothing.
            [
                .fail(c, generation: 1, now: 0, []), .due(now: .max, []),
                .resume(c, []), .operatorPause(c, .unknown), .beginCompletion(c, false), .finished(c, []),
                .notification(c, .completion(1), []),
            ],
        ]
    )
    func reentrancy(_ events: [Event]) { Self.run(events) }

    @Test(
        "completion: one at a time; while it is stored the invocation takes no notifications and no operator verb; a failed store leaves it as it was",
        arguments: [
            [
                Event.admit(a, .invoked), .launch(a, [.startAttempt(a, generation: 1)]),
                .beginCompletion(a, true), .beginCompletion(a, false),
                .expectTakesNotifications(a, false), .operatorPause(a, .unknown),
                .completionFailed(a), .expectTakesNotifications(a, true), .beginCompletion(a, true),
                .finished(a, []), .expectStatus(a, nil),
            ]
        ]
    )
    func completion(_ events: [Event]) { Self.run(events) }

    @Test(
        "the object lock passes to the inbox's head when the holder finishes, with its status stored unless the completion stored it",
        arguments: [
            [
                Event.admit(a, locked: true, .invoked), .admit(b, locked: true, .inboxed),
                .admit(c, locked: true, .inboxed),
                .finished(a, [.storeStatus(b, .invoked, lastFailure: nil), .startAttempt(b, generation: 1)]),
                .finished(b, storedWithCompletion: c, [.startAttempt(c, generation: 1)]),
                .finished(c, []),
            ],
            // An inboxed invocation dropped (its creation failed) leaves the queue; the holder keeps the lock
            // and the next in line is the one after it.
            [
                .admit(a, locked: true, .invoked), .admit(b, locked: true, .inboxed),
                .admit(c, locked: true, .inboxed),
                .finished(b, []), .expectStatus(a, .invoked),
                .finished(a, [.storeStatus(c, .invoked, lastFailure: nil), .startAttempt(c, generation: 1)]),
            ],
        ]
    )
    func objectLock(_ events: [Event]) { Self.run(events) }

    @Test(
        "suspension parks until a notification it waits for is stored; a paused or running invocation is not resumed by one",
        arguments: [
            [
                Event.admit(a, .invoked), .launch(a, [.startAttempt(a, generation: 1)]),
                .suspend(a, generation: 1, waiting: [.completion(1)], [.park(a)]),
                .expectStatus(a, .suspended), .expectTakesNotifications(a, true),
                .notification(a, .completion(2), []),
                .notification(
                    a,
                    .completion(1),
                    [.storeStatus(a, .invoked, lastFailure: nil), .startAttempt(a, generation: 2)]
                ),
                .notification(a, .completion(1), []),
            ],
            [
                .admit(a, .invoked), .launch(a, [.startAttempt(a, generation: 1)]),
                .suspend(a, generation: 1, waiting: [.completion(1)], [.park(a)]),
                .operatorPause(a, .paused([.abandonAttempt(a), paused])),
                .notification(a, .completion(1), []), .expectStatus(a, .paused),
            ],
        ]
    )
    func suspension(_ events: [Event]) { Self.run(events) }

    @Test("admission's dedupe: an id admitted while a store read looked for it is a duplicate, even once it left")
    func existenceChecks() {
        var state = PartitionState()
        state.existenceCheckBegan(Self.a)
        state.existenceCheckBegan(Self.b)
        _ = state.admit(Self.a, lockedObject: nil, executeAt: nil, now: 0)
        _ = state.finished(Self.a)
        let (racedA, racedB) = (state.existenceCheckEnded(Self.a), state.existenceCheckEnded(Self.b))
        #expect(racedA)
        #expect(!racedB)
        // Admitted before this read began: the read finds it in the store, not as a race.
        state.existenceCheckBegan(Self.a)
        let later = state.existenceCheckEnded(Self.a)
        #expect(!later)
    }

    @Test("durable timers are armed once and fire at their instant; the sweep is armed once while pending")
    func timersAndSweep() {
        var state = PartitionState()
        _ = state.admit(Self.a, lockedObject: nil, executeAt: nil, now: 0)
        #expect(state.armTimer(Self.a, completionID: 1, at: 3_600_000) == [.wakeTimerLoop])
        // Re-armed at recovery, or by a replayed command: the first due time stands.
        #expect(state.armTimer(Self.a, completionID: 1, at: 10) == [])
        #expect(state.armSweep(at: 250) == [.wakeTimerLoop])
        #expect(state.armSweep(at: 100) == [])
        #expect(state.due(now: 3_599_999) == [.sweep])
        #expect(state.armSweep(at: 3_600_250) == [])
        #expect(state.due(now: 3_600_000) == [.fireTimer(Self.a, completionID: 1)])
        #expect(state.nextDeadline == 3_600_250)
        #expect(state.deadlines(of: Self.a).isEmpty)
    }

    @Test("recovery: locks, status corrections, delayed starts and attempts come back from the stored records")
    func recovery() {
        var state = PartitionState()
        let actions = state.recover(
            [
                .init(id: Self.a, status: .invoked, lockedObject: nil, retryCount: 2, executeAt: nil),
                .init(id: Self.b, status: .scheduled, lockedObject: nil, retryCount: 0, executeAt: 9_000),
                // Its holder completed just before the crash, before its promotion was stored.
                .init(id: Self.c, status: .inboxed, lockedObject: Self.object, retryCount: 0, executeAt: nil),
            ],
            resuming: []
        )
        #expect(
            actions == [
                .storeStatus(Self.c, .invoked, lastFailure: nil), .wakeTimerLoop,
                .startAttempt(Self.a, generation: 1), .startAttempt(Self.c, generation: 1),
            ]
        )
        #expect(state.deadlines(of: Self.b) == [9_000])
        #expect(state[Self.a]?.failedAttempts == 2)
        #expect(state.locks.holder(of: Self.object) == Self.c)
    }
}
