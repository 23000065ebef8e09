import Foundation
import Testing

@testable import KeelAnalytics

@Suite("The ClickHouse SQL lexer and parser")
struct SQLParserTests {
    @Test("tokens: quoted names, string escapes, numbers, comments, placeholders")
    func tokens() throws {
        let tokens = try SQLLexer.tokens(
            "SELECT `a b`, \"c\"\"d\", 'it''s \\'x\\' \\\\ \\n', 0x1F, 1.5e3, .5, ? -- note\n/* block\n */ x"
        ).filter { !$0.isTrivia }
        #expect(
            tokens.map(\.kind) == [
                .word, .quoted, .symbol, .quoted, .symbol, .string, .symbol, .integer, .symbol, .float, .symbol, .float,
                .symbol, .placeholder, .word,
            ]
        )
        #expect(tokens[1].text == "a b" && tokens[3].text == "c\"d")
        #expect(tokens[5].text == "it's 'x' \\ \n")
        #expect(tokens.last?.line == 3)
    }

    @Test(
        "lexer errors name the line",
        arguments: [
            ("SELECT 'open", 1, "is not closed"), ("SELECT 1\n/* open", 2, "`/*` comment is not closed"),
            ("SELECT\n\n`x", 3, "quoted identifier"), ("SELECT 12ab", 1, "is not a number"),
            ("SELECT 1 @ 2", 1, "unexpected character"),
        ]
    )
    func lexerErrors(_ sql: String, _ line: Int, _ says: String) {
        #expect(throws: SQLError.self) { try SQLLexer.tokens(sql) }
        do {
            _ = try SQLLexer.tokens(sql)
        } catch {
            #expect(error.line == line && error.message.contains(says), "\(error)")
        }
    }

    @Test("precedence: OR below AND below NOT below comparison below + below *; -5 is one literal")
    func precedence() throws {
        let query = try SQLParser.parse("SELECT a OR b AND NOT c = 1 + 2 * -5").query
        let expr = try #require(query.selects.first?.items.first?.expr)
        guard case .binary(.or, _, let right) = expr.kind, case .binary(.and, _, let not) = right.kind,
            case .not(let comparison) = not.kind, case .binary(.equal, _, let sum) = comparison.kind,
            case .binary(.plus, _, let product) = sum.kind, case .binary(.multiply, _, let literal) = product.kind
        else {
            Issue.record("parsed as \(expr)")
            return
        }
        #expect(literal.kind == .integer(5, negative: true))
    }

    @Test("clauses: DISTINCT, aliases with and without AS, JOIN, GROUP BY, HAVING, ORDER BY, LIMIT m, n, UNION ALL")
    func clauses() throws {
        let (query, placeholders) = try SQLParser.parse(
            """
            SELECT DISTINCT a AS x, b y FROM t AS u LEFT OUTER JOIN (SELECT 1 AS a) v USING (a)
            WHERE x > ? GROUP BY x HAVING count() > 1 ORDER BY x DESC NULLS FIRST, y LIMIT 5, 10
            UNION ALL SELECT 1, 2;
            """
        )
        #expect(placeholders == 1)
        #expect(query.selects.count == 2)
        let select = try #require(query.selects.first)
        #expect(select.distinct && select.items.map(\.alias) == ["x", "y"])
        #expect(select.from?.alias == "u" && select.joins.first?.kind == .left)
        #expect(select.joins.first?.constraint == .using(["a"]))
        #expect(select.orderBy.map(\.descending) == [true, false] && select.orderBy.first?.nullsFirst == true)
        #expect(select.limit?.count.kind == .integer(10, negative: false))
        #expect(select.limit?.offset?.kind == .integer(5, negative: false))
    }

    @Test(
        "syntax errors say what was expected, on the right line",
        arguments: [
            ("SELECT\n  a,\n  FROM t", 3, "expected an expression, found `FROM`"),
            ("SELECT a FROM", 1, "expected a table, a node or a subquery, found the end of the SQL"),
            ("SELECT a FROM t WHERE", 1, "expected an expression"), ("SELECT (a", 1, "expected `)`"),
            ("SELECT a FROM t\nLIMIT 1\nFORMAT JSON", 3, "`FORMAT` is chosen by the API's extension"),
            ("SELECT a FROM t SETTINGS max_threads = 1", 1, "`SETTINGS` needs the ClickHouse engine"),
            ("SELECT 1 UNION SELECT 2", 1, "`UNION` without `ALL`"),
            ("WITH x AS (SELECT 1) SELECT * FROM x", 1, "`WITH` (a common table expression"),
            ("SELECT a FROM t FINAL", 1, "`FINAL` needs the ClickHouse engine"),
            ("SELECT a FROM t ARRAY JOIN b", 1, "`ARRAY JOIN` needs the ClickHouse engine"),
            ("SELECT a FROM t LIMIT 1 BY a", 1, "`LIMIT … BY` needs the ClickHouse engine"),
            ("SELECT count() OVER () FROM t", 1, "window functions"),
            ("SELECT x -> x", 1, "expected the end of the query, found `->`"),
            ("SELECT a::String", 1, "the `::` cast"), ("SELECT [1, 2]", 1, "an array"),
            ("SELECT a FROM numbers(10)", 1, "the table function `numbers(…)`"),
            ("SELECT a FROM t RIGHT JOIN u ON 1", 1, "`RIGHT JOIN` needs the ClickHouse engine"),
            ("SELECT a FROM t, u", 1, "a comma join"), ("SELECT INTERVAL 1 FORTNIGHT", 1, "an interval unit"),
        ]
    )
    func syntaxErrors(_ sql: String, _ line: Int, _ says: String) {
        do {
            _ = try SQLParser.parse(sql)
            Issue.record("parsed \(sql)")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.message.contains(says), "\(error.message)")
        }
    }

    @Test("hostile nesting is refused with the reason, not a stack overflow; the deepest taken compiles")
    func nesting() throws {
        let deep = [
            "SELECT " + String(repeating: "(", count: 5_000) + "1" + String(repeating: ")", count: 5_000),
            "SELECT " + String(repeating: "- ", count: 5_000) + "1",
            "SELECT " + String(repeating: "NOT ", count: 5_000) + "1",
            "SELECT " + Array(repeating: "1", count: 5_000).joined(separator: " + "),
            "SELECT " + Array(repeating: "1 = 1", count: 5_000).joined(separator: " OR "),
            "SELECT * FROM " + String(repeating: "(SELECT * FROM ", count: 2_000) + "t"
                + String(repeating: ")", count: 2_000),
            "SELECT " + String(repeating: "abs(", count: 5_000) + "1" + String(repeating: ")", count: 5_000),
        ]
        for sql in deep {
            let pipe = try Pipe.parse("NODE n\nSQL >\n  \(sql)", name: "p", file: "p.pipe")
            do {
                _ = try PipeCompiler.sqlite(pipe, datasources: [], parameters: [:], now: 0)
                Issue.record("compiled \(sql.prefix(40))")
            } catch {
                #expect(error.description.contains("nests deeper than"), "\(error)")
            }
        }
        let deepest =
            "SELECT " + String(repeating: "(", count: 190) + "1" + String(repeating: ")", count: 190) + " + "
            + Array(repeating: "abs(1)", count: 9).joined(separator: " + ") + " AS x"
        let pipe = try Pipe.parse("NODE n\nSQL >\n  \(deepest)", name: "p", file: "p.pipe")
        let query = try PipeCompiler.sqlite(pipe, datasources: [], parameters: [:], now: 0)
        #expect(query.columns == [.init(name: "x", type: "UInt64")])
    }
}
