import KeelCore
import KeelProtocol
import Testing

@Suite("Which invocations a crash is blamed on")
struct QuarantineRulesTests {
    static let a = InvocationID(partitionKey: 1, uuid: 1)
    static let b = InvocationID(partitionKey: 1, uuid: 2)
    static let c = InvocationID(partitionKey: 1, uuid: 3)
    static let sigill: Int32 = 4

    @Test("a SIGKILL, a power cut or a clean exit blames nobody; an interrupted probe is run again first")
    func noTrap() {
        #expect(QuarantineRules.verdict(after: .init(running: [Self.a, Self.b])) == .init(culprits: [:], suspects: []))
        let interrupted = QuarantineRules.verdict(after: .init(running: [Self.a], probe: Self.a, suspects: [Self.b]))
        #expect(interrupted == .init(culprits: [:], suspects: [Self.a, Self.b]))
    }

    @Test("a first trap makes every running invocation a suspect, even a lone one: nobody is paused yet")
    func firstTrap() {
        #expect(
            QuarantineRules.verdict(after: .init(trapSignal: Self.sigill, running: [Self.a]))
                == .init(culprits: [:], suspects: [Self.a])
        )
        let several = QuarantineRules.verdict(after: .init(trapSignal: Self.sigill, running: [Self.a, Self.b, Self.c]))
        #expect(several == .init(culprits: [:], suspects: [Self.a, Self.b, Self.c]))
    }

    @Test("a suspect that traps while running alone is the culprit; the other suspects still run alone")
    func culpritFound() {
        let verdict = QuarantineRules.verdict(
            after: .init(trapSignal: Self.sigill, running: [Self.b], probe: Self.b, suspects: [Self.c])
        )
        #expect(verdict.suspects == [Self.c])
        #expect(verdict.culprits.keys.sorted() == [Self.b])
        #expect(verdict.culprits[Self.b]?.contains("SIGILL") == true)
    }

    @Test("a trap while the probe ran with others (after its timeout) blames nobody: all become suspects, once each")
    func probeNotAlone() {
        let verdict = QuarantineRules.verdict(
            after: .init(
                trapSignal: Self.sigill,
                running: [Self.a, Self.b],
                probe: Self.a,
                suspects: [Self.b, Self.c]
            )
        )
        #expect(verdict == .init(culprits: [:], suspects: [Self.a, Self.b, Self.c]))
    }

    @Test("a trap with no embedded handler running (a bug outside handlers) blames nobody and keeps the suspects")
    func trapOutsideHandlers() {
        let verdict = QuarantineRules.verdict(
            after: .init(trapSignal: Self.sigill, running: [], probe: Self.a, suspects: [Self.b])
        )
        #expect(verdict == .init(culprits: [:], suspects: [Self.a, Self.b]))
    }
}
