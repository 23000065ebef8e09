import Foundation
import KeelStore
import Testing

@Suite("Introspection rules: the read-only check and the time format")
struct IntrospectionRulesTests {
    @Test("SELECT, WITH and VALUES pass after blanks and comments; anything else is refused as read-only")
    func readOnlyCheck() throws {
        #expect(try IntrospectionQuery.check("  select 1") == "select 1")
        #expect(
            try IntrospectionQuery.check("-- list\n/* all */ WITH x AS (SELECT 1) SELECT * FROM x").hasPrefix("WITH")
        )
        #expect(try IntrospectionQuery.check("VALUES (1)") == "VALUES (1)")
        for sql in [
            "PRAGMA table_info(state)", "attach 'x' as y", "-- c\nDELETE FROM state", "EXPLAIN SELECT 1", "/* open",
        ] {
            #expect(throws: IntrospectionError.self, "\(sql)") { try IntrospectionQuery.check(sql) }
        }
        #expect(throws: IntrospectionError.invalid("the query is empty")) { try IntrospectionQuery.check(" -- only\n") }
    }

    @Test("times are RFC 3339 in UTC with milliseconds, before 1970 and at the ends of Int64 too")
    func rfc3339() {
        #expect(IntrospectionViews.rfc3339(0) == "1970-01-01T00:00:00.000Z")
        #expect(IntrospectionViews.rfc3339(1_767_323_045_678) == "2026-01-02T03:04:05.678Z")
        #expect(IntrospectionViews.rfc3339(-1) == "1969-12-31T23:59:59.999Z")
        #expect(IntrospectionViews.rfc3339(951_782_400_000) == "2000-02-29T00:00:00.000Z")
        // No trap at the extremes (a corrupt or hostile timestamp still renders).
        #expect(!IntrospectionViews.rfc3339(.max).isEmpty)
        #expect(!IntrospectionViews.rfc3339(.min).isEmpty)
    }
}
