import KeelCore
import KeelProtocol
import Testing

@Suite("Whether an id was created while the store was read")
struct ExistenceChecksTests {
    let id = InvocationID(partitionKey: 1, uuid: 1)
    let other = InvocationID(partitionKey: 1, uuid: 2)

    @Test("an admission during a read is reported to that read, to every overlapping read, and to no later one")
    func races() {
        var checks = ExistenceChecks()
        checks.admitted(id)
        checks.begin(id)
        let early = checks.end(id)
        #expect(early == false, "an admission before the read began is the store's to show")

        checks.begin(id)
        checks.begin(id)
        checks.admitted(other)
        checks.admitted(id)
        let first = checks.end(id)
        let second = checks.end(id)
        checks.begin(id)
        let later = checks.end(id)
        let unread = checks.end(other)
        #expect(first && second)
        #expect(!later && !unread)
    }
}
