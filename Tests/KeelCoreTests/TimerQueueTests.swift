import KeelCore
import Testing

@Suite("A partition's timer queue")
struct TimerQueueTests {
    @Test("keys come out in due order, ties in scheduling order, and only once due")
    func order() {
        var queue = TimerQueue<String>()
        queue.schedule("c", at: 30)
        queue.schedule("a", at: 10)
        queue.schedule("b1", at: 20)
        queue.schedule("b2", at: 20)
        #expect(queue.nextDeadline == 10)
        #expect(queue.popDue(now: 9).isEmpty)
        #expect(queue.popDue(now: 20) == ["a", "b1", "b2"])
        #expect(queue.nextDeadline == 30)
        #expect(queue.popDue(now: .max) == ["c"])
        #expect(queue.isEmpty && queue.nextDeadline == nil)
    }

    @Test("scheduling a key again moves it; cancelling removes it; neither leaves a ghost behind")
    func moveAndCancel() {
        var queue = TimerQueue<Int>()
        queue.schedule(1, at: 100)
        queue.schedule(2, at: 50)
        queue.schedule(1, at: 10)
        #expect(queue.count == 2)
        #expect(queue.deadline(of: 1) == 10)
        let first = queue.cancel(2)
        let second = queue.cancel(2)
        #expect(first && !second)
        #expect(queue.popDue(now: 1_000) == [1])
        #expect(queue.isEmpty)
        #expect(queue.popDue(now: .max).isEmpty)
    }

    @Test(
        "schedule tells whether the sleeper must wake earlier",
        arguments: [
            (existing: [Int64](), new: Int64(50), earlier: true),
            (existing: [100], new: 50, earlier: true),
            (existing: [10], new: 50, earlier: false),
            (existing: [50], new: 50, earlier: false),
        ]
    )
    func wakesEarlier(existing: [Int64], new: Int64, earlier: Bool) {
        var queue = TimerQueue<Int>()
        for (index, due) in existing.enumerated() { queue.schedule(index, at: due) }
        let wakes = queue.schedule(99, at: new)
        #expect(wakes == earlier)
    }

    @Test("scheduleOnce keeps the first schedule: a timer restored twice fires once")
    func once() {
        var queue = TimerQueue<String>()
        let added = queue.scheduleOnce("t", at: 5)
        let again = queue.scheduleOnce("t", at: 1)
        #expect(added && !again)
        #expect(queue.popDue(now: 4).isEmpty)
        #expect(queue.popDue(now: 5) == ["t"])
    }

    @Test("extreme due times neither trap nor reorder", arguments: [Int64.min, -1, 0, .max])
    func extremes(due: Int64) {
        var queue = TimerQueue<Int>()
        queue.schedule(1, at: due)
        queue.schedule(2, at: 0)
        let all = queue.popDue(now: .max)
        #expect(all.count == 2)
        #expect(all.first == (due < 0 ? 1 : due == 0 ? 1 : 2))
    }

    @Test("a thousand entries in scrambled order come out sorted")
    func many() {
        var queue = TimerQueue<Int>()
        var dues: [Int: Int64] = [:]
        for key in 0..<1_000 {
            let due = Int64(key * 7_919 % 10_000)  // a scrambled order: 7,919 is prime
            dues[key] = due
            queue.schedule(key, at: due)
        }
        for key in stride(from: 0, to: 1_000, by: 3) { queue.cancel(key) }
        let out = queue.popDue(now: .max)
        #expect(out.count == 1_000 - 334)
        let times = out.compactMap { dues[$0] }
        #expect(times == times.sorted())
    }
}
