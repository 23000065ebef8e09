import Foundation
import KeelAnalytics
import Testing

@Suite("Ingested JSON values against column types: checked, never silently coerced")
struct RowValuesTests {
    static func value(_ json: String, _ type: ColumnType) -> Result<StoredValue, RowError> {
        let parsed = try? JSONSerialization.jsonObject(with: Data("[\(json)]".utf8)) as? [Any]
        return RowValues.store(parsed?.first, as: type, column: "c")
    }

    static let epoch2026: Int64 = 1_767_225_600

    @Test(
        "DateTime takes ISO-8601 (fractions, Z or an offset), YYYY-MM-DD hh:mm:ss and Unix seconds as a number",
        arguments: [
            (#""2026-01-01T00:00:00.000Z""#, epoch2026),
            (#""2026-01-01T00:00:00Z""#, epoch2026),
            (#""2026-01-01T01:30:00+01:30""#, epoch2026),
            (#""2025-12-31T19:00:00.123456-05:00""#, epoch2026),
            (#""2026-01-01 00:00:00""#, epoch2026),
            ("1767225600", epoch2026),
            ("1767225600.9", epoch2026),
        ]
    )
    func dateTimes(_ json: String, _ expected: Int64) {
        #expect(Self.value(json, .dateTime) == .success(.dateTime(expected)), "\(json)")
    }

    @Test(
        "refused, with the reason: a string of digits is not a date, nor is a time without a zone or a 30 February",
        arguments: [
            (#""1767225600""#, ColumnType.dateTime),
            (#""2026-01-01T00:00:00""#, .dateTime),
            (#""2026-02-30 00:00:00""#, .dateTime),
            (#""2026-01-01T24:00:00Z""#, .dateTime),
            ("true", .dateTime),
            ("45.99", .int(bits: 64, signed: true)),
            (#""42""#, .int(bits: 32, signed: true)),
            ("300", .int(bits: 8, signed: false)),
            ("-1", .int(bits: 64, signed: false)),
            ("128", .int(bits: 8, signed: true)),
            ("true", .int(bits: 8, signed: true)),
            ("12", .string),
            ("null", .string),
            (#""2026-13-01""#, .date),
            ("1e40", .float(bits: 32)),
        ] as [(String, ColumnType)]
    )
    func refusals(_ json: String, _ type: ColumnType) {
        guard case .failure(let error) = Self.value(json, type) else {
            Issue.record("\(json) accepted as \(type)")
            return
        }
        #expect(error.column == "c" && !error.reason.isEmpty)
    }

    @Test("integers at their bounds, unsigned 64-bit above Int64, floats, dates, Nullable and LowCardinality")
    func accepted() {
        #expect(Self.value("-128", .int(bits: 8, signed: true)) == .success(.integer(-128)))
        #expect(Self.value("255", .int(bits: 8, signed: false)) == .success(.integer(255)))
        #expect(Self.value("9223372036854775807", .int(bits: 64, signed: true)) == .success(.integer(.max)))
        #expect(Self.value("-9223372036854775808", .int(bits: 64, signed: true)) == .success(.integer(.min)))
        #expect(Self.value("18446744073709551615", .int(bits: 64, signed: false)) == .success(.unsigned(.max)))
        #expect(Self.value("45.99", .float(bits: 64)) == .success(.real(45.99)))
        #expect(Self.value("3", .float(bits: 64)) == .success(.real(3)))
        #expect(Self.value(#""2026-01-01""#, .date) == .success(.date(Self.epoch2026 / 86_400)))
        #expect(Self.value("null", .nullable(.string)) == .success(.null))
        #expect(RowValues.store(nil, as: .nullable(.int(bits: 8, signed: true)), column: "c") == .success(.null))
        #expect(Self.value(#""x""#, .lowCardinality(.string)) == .success(.text("x")))
        #expect(Self.value(#""x""#, .nullable(.lowCardinality(.string))) == .success(.text("x")))
    }
}
