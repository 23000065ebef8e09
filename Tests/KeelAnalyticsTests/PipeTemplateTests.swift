import KeelAnalytics
import Testing

@Suite("Pipe templates: typed parameters bound, never pasted")
struct PipeTemplateTests {
    static let template = """
        SELECT * FROM orders
        WHERE timestamp >= {{ DateTime(start, '2026-01-01 00:00:00') }}
        {% if defined(country) %} AND country = {{ String(country, 'US') }} {% else %} AND country != '' {% end %}
        LIMIT {{ Int32(limit, 10) }}
        """

    @Test(
        "parameters become ? with typed bindings; defaults fill what the request leaves out; if defined picks a branch"
    )
    func expansion() throws {
        let template = try PipeTemplate(Self.template)
        #expect(template.parameters == ["start", "country", "limit"])
        let plain = try template.expand([:])
        #expect(
            plain.sql.contains("timestamp >= ?") && plain.sql.contains("AND country != ''")
                && plain.sql.hasSuffix("LIMIT ?")
        )
        #expect(plain.bindings == [.dateTime(1_767_225_600), .integer(10)])
        let filtered = try template.expand(["country": "DE", "limit": "5", "start": "2026-01-02"])
        #expect(filtered.sql.contains("AND country = ? "))
        #expect(filtered.bindings == [.dateTime(1_767_312_000), .text("DE"), .integer(5)])
    }

    @Test("an injection attempt is a bound string, never SQL")
    func injection() throws {
        let expanded = try PipeTemplate(Self.template).expand(["country": "x'; DROP TABLE orders; --"])
        #expect(!expanded.sql.contains("DROP"))
        #expect(expanded.bindings.contains(.text("x'; DROP TABLE orders; --")))
    }

    @Test(
        "a value of the wrong type names the parameter",
        arguments: [("limit", "ten"), ("limit", "99999999999"), ("start", "yesterday"), ("start", "1767225600")]
    )
    func wrongTypes(_ name: String, _ value: String) throws {
        let template = try PipeTemplate(Self.template)
        do {
            _ = try template.expand([name: value])
            Issue.record("accepted \(name)=\(value)")
        } catch {
            #expect(error.parameter == name && error.message.contains(name), "\(error)")
        }
    }

    @Test(
        "templates that do not read are refused with what was expected",
        arguments: [
            ("{{ Decimal(x) }}", "not one of"), ("{{ String(x }}", "expected a typed parameter"),
            ("{% for x in y %}{% end %}", "not supported"), ("{% if defined(x) %}a", "has no `{% end %}`"),
            ("{% end %}", "without an open"), ("{{ String(x)", "not closed"),
            ("{{ String(1x) }}", "not a parameter name"),
        ]
    )
    func refusals(_ text: String, _ says: String) {
        do {
            _ = try PipeTemplate(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.message.contains(says), "\(error)")
        }
    }

    @Test("a required parameter without a default must be given")
    func required() throws {
        let template = try PipeTemplate("SELECT {{ UInt8(n) }}")
        #expect(throws: PipeTemplate.TemplateError.self) { try template.expand([:]) }
        #expect(try template.expand(["n": "255"]).bindings == [.integer(255)])
        #expect(throws: PipeTemplate.TemplateError.self) { try template.expand(["n": "256"]) }
    }
}
