import Foundation
import KeelSQLite
import KeelStoreTesting
import Testing

@Suite("SQLiteStore conformance")
final class SQLiteStoreConformanceTests {
    let directory = TemporaryDirectory()

    @Test("SQLiteStore behaves as a Store", arguments: StoreConformance.Check.allCases)
    func conforms(to check: StoreConformance.Check) async throws {
        let conformance = StoreConformance(freshDatabase: { [directory] in
            let database = directory.newSubdirectory()
            return { try SQLiteStore(directory: database) }
        })
        try await conformance.run(check)
    }
}

@Suite("SQLiteStore's introspection tables (/query)")
final class SQLiteIntrospectionTests {
    let directory = TemporaryDirectory()

    @Test("SQLiteStore answers Restate's introspection queries", arguments: IntrospectionConformance.Check.allCases)
    func conforms(to check: IntrospectionConformance.Check) async throws {
        let conformance = IntrospectionConformance(freshStore: { [directory] in
            try SQLiteStore(directory: directory.newSubdirectory())
        })
        try await conformance.run(check)
    }
}
