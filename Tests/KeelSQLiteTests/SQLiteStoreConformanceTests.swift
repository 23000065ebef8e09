import Foundation
import KeelSQLite
import Testing

@Suite("SQLiteStore conformance")
final class SQLiteStoreConformanceTests {
    let directory = TemporaryDirectory()

    @Test("SQLiteStore behaves as a Store", arguments: StoreConformance.Check.allCases)
    func conforms(to check: StoreConformance.Check) async throws {
        let conformance = StoreConformance { [directory] in
            let database = directory.newSubdirectory()
            return { try SQLiteStore(directory: database) }
        }
        try await conformance.run(check)
    }
}
