import Foundation

/// The ClickHouse functions Keel translates to SQLite (the table is in `PipeCompiler`'s documentation).
enum SQLiteFunctions {
    typealias Context = SQLiteTranslator.Context

    /// Every function the subset takes, as the error for any other lists them.
    static let names = [
        "count", "countIf", "sum", "sumIf", "avg", "avgIf", "min", "max", "minIf", "maxIf", "uniq", "uniqExact",
        "any", "if", "multiIf", "coalesce", "ifNull", "nullIf", "isNull", "isNotNull", "round", "floor", "ceil",
        "abs", "intDiv", "modulo", "least", "greatest", "lower", "upper", "length", "lengthUTF8", "concat",
        "substring", "substringUTF8", "startsWith", "endsWith", "position", "toString", "toInt32", "toInt64",
        "toUInt32", "toUInt64", "toFloat64", "toDate", "toDateTime", "toStartOfMinute", "toStartOfFiveMinutes",
        "toStartOfTenMinutes", "toStartOfFifteenMinutes", "toStartOfHour", "toStartOfDay", "toStartOfWeek",
        "toMonday", "toStartOfMonth", "toStartOfQuarter", "toStartOfYear", "toStartOfInterval", "toYYYYMM",
        "toYYYYMMDD", "toYear", "toQuarter", "toMonth", "toDayOfMonth", "toDayOfYear", "toHour", "toMinute",
        "toSecond", "toDayOfWeek", "toUnixTimestamp", "now", "today", "yesterday", "dateDiff",
    ]

    /// Other spellings ClickHouse takes for the same functions.
    static let synonyms: [String: String] = [
        "substr": "substring", "mid": "substring", "ceiling": "ceil", "toStartOfFiveMinute": "toStartOfFiveMinutes",
        "date_diff": "dateDiff", "DATE_DIFF": "dateDiff", "timestampDiff": "dateDiff", "uniqCombined": "",
        "IF": "if", "mod": "modulo",
    ]

    /// Functions ClickHouse also takes in any case (the SQL standard's).
    static let caseInsensitive: Set<String> = [
        "count", "sum", "avg", "min", "max", "coalesce", "if", "lower", "upper", "length", "concat", "substring",
        "substr", "round", "floor", "ceil", "ceiling", "abs", "least", "greatest", "position", "nullIf", "ifNull",
        "isNull", "isNotNull", "mod", "dateDiff", "now", "today", "yesterday", "mid",
    ]

    static func canonical(_ name: String) -> String? {
        if let synonym = synonyms[name] { return synonym.isEmpty ? nil : synonym }
        if names.contains(name) { return name }
        let lowered = name.lowercased()
        guard let match = caseInsensitive.first(where: { $0.lowercased() == lowered }) else { return nil }
        if let synonym = synonyms[match] { return synonym }
        return match
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    static func call(
        _ written: String,
        _ arguments: [SQLExpr],
        distinct: Bool,
        line: Int,
        _ context: Context,
        translator t: SQLiteTranslator
    ) throws(AnalyticsError) -> Typed {
        guard let name = canonical(written) else {
            throw t.fail(
                line,
                "`\(written)` needs the ClickHouse engine (Keel's SQLite subset takes: \(names.joined(separator: ", ")))"
            )
        }
        func arity(_ counts: ClosedRange<Int>) throws(AnalyticsError) {
            guard counts.contains(arguments.count) else {
                let expected =
                    counts.lowerBound == counts.upperBound
                    ? "\(counts.lowerBound)" : "\(counts.lowerBound) to \(counts.upperBound)"
                throw t.fail(line, "`\(written)` takes \(expected) argument(s), not \(arguments.count)")
            }
        }
        if distinct, !["count", "sum", "avg"].contains(name) {
            throw t.clickhouseOnly(line, "`\(written)(DISTINCT …)`")
        }
        func arg(_ index: Int, _ inner: Context? = nil) throws(AnalyticsError) -> Typed {
            try t.expr(arguments[index], inner ?? context)
        }
        func all(_ inner: Context? = nil) throws(AnalyticsError) -> [Typed] {
            var result: [Typed] = []
            for index in arguments.indices { result.append(try arg(index, inner)) }
            return result
        }
        func rendered(_ args: [Typed]) -> String { "\(written)(\(args.map(\.name).joined(separator: ", ")))" }

        // Aggregates.
        if let aggregate = try aggregate(name, written, arguments, distinct: distinct, line: line, context, t) {
            return aggregate
        }

        switch name {
        case "if":
            try arity(3...3)
            let args = try all()
            return try conditional([(args[0], args[1])], otherwise: args[2], name: rendered(args), line: line, t)
        case "multiIf":
            guard arguments.count >= 3, arguments.count % 2 == 1 else {
                throw t.fail(line, "`multiIf` takes cond1, then1, cond2, then2, …, else (an odd number ≥ 3)")
            }
            let args = try all()
            var branches: [(Typed, Typed)] = []
            for index in stride(from: 0, to: args.count - 1, by: 2) { branches.append((args[index], args[index + 1])) }
            return try conditional(branches, otherwise: args[args.count - 1], name: rendered(args), line: line, t)
        case "coalesce", "ifNull":
            if name == "ifNull" { try arity(2...2) } else { try arity(1...64) }
            let args = try all()
            guard var type = SQLType.common(args.map(\.type)) else {
                throw t.fail(
                    line,
                    "`\(written)`: no common type for \(args.map(\.type.description).joined(separator: ", "))"
                )
            }
            type.nullable = args.allSatisfy { $0.type.nullable }
            type.lowCardinality = false
            let sql =
                args.count == 1 ? args[0].sql : "coalesce(" + Fragment.joined(args.map(\.sql), separator: ", ") + ")"
            return t.derived(sql, type, rendered(args), args)
        case "nullIf":
            try arity(2...2)
            let args = try all()
            let right = try t.comparable(args[0], args[1], line: line)
            return t.derived(
                "nullif(" + args[0].sql + ", " + right.sql + ")",
                args[0].type.plain.nullable(true),
                rendered(args),
                args
            )
        case "isNull", "isNotNull":
            try arity(1...1)
            let value = try arg(0)
            return t.derived(
                "(" + value.sql + (name == "isNull" ? " IS NULL)" : " IS NOT NULL)"),
                .uint8,
                rendered([value]),
                [value]
            )
        case "round":
            try arity(1...2)
            // Each argument translated once: translating it again for the name doubled the work per nesting.
            let args = try all()
            return try round(args, name: rendered(args), line: line, t)
        case "floor", "ceil":
            try arity(1...1)
            let value = try arg(0)
            try requireNumber(value, written, line, t)
            return t.derived(
                Fragment(name == "floor" ? "floor(" : "ceil(") + value.sql + ")",
                value.type.plain.nullable(value.type.nullable),
                rendered([value]),
                [value]
            )
        case "abs":
            try arity(1...1)
            let value = try arg(0)
            try requireNumber(value, written, line, t)
            var type = value.type.plain
            if case .int(let bits, true) = type.base { type = SQLType(.int(bits: bits, signed: false)) }
            return t.derived("abs(" + value.sql + ")", type.nullable(value.type.nullable), rendered([value]), [value])
        case "intDiv":
            try arity(2...2)
            let args = try all()
            try requireNumber(args[0], written, line, t)
            try requireNumber(args[1], written, line, t)
            let nullable = args[0].type.nullable || args[1].type.nullable
            if args[0].type.isFloat || args[1].type.isFloat {
                return t.derived(
                    "CAST(CAST(" + args[0].sql + " AS REAL) / " + args[1].sql + " AS INTEGER)",
                    SQLType.int64.nullable(nullable),
                    rendered(args),
                    args
                )
            }
            let type = SQLType(.int(bits: args[0].type.bits, signed: args[0].type.isSigned || args[1].type.isSigned))
            return t.derived(
                "(" + args[0].sql + " / " + args[1].sql + ")",
                type.nullable(nullable),
                rendered(args),
                args
            )
        case "modulo":
            try arity(2...2)
            let args = try all()
            return try modulo(args[0], args[1], name: rendered(args), line: line, translator: t)
        case "least", "greatest":
            try arity(2...64)
            let args = try all()
            guard var type = SQLType.common(args.map(\.type)) else {
                throw t.fail(
                    line,
                    "`\(written)`: no common type for \(args.map(\.type.description).joined(separator: ", "))"
                )
            }
            type.lowCardinality = false
            var converted: [Typed] = [args[0]]
            for other in args.dropFirst() { converted.append(try t.comparable(args[0], other, line: line)) }
            return t.derived(
                Fragment(name == "least" ? "min(" : "max(") + Fragment.joined(converted.map(\.sql), separator: ", ")
                    + ")",
                type,
                rendered(args),
                args
            )
        case "lower", "upper":
            try arity(1...1)
            let value = try arg(0)
            try requireString(value, written, line, t)
            return t.derived(Fragment("\(name)(") + value.sql + ")", value.type.plain, rendered([value]), [value])
        case "length", "lengthUTF8":
            try arity(1...1)
            let value = try arg(0)
            try requireString(value, written, line, t)
            let sql = name == "length" ? "length(CAST(" + value.sql + " AS BLOB))" : "length(" + value.sql + ")"
            return t.derived(sql, SQLType.uint64.nullable(value.type.nullable), rendered([value]), [value])
        case "concat":
            try arity(1...64)
            let args = try all()
            var typed = try concat(args, line: line, translator: t)
            typed.name = rendered(args)
            return typed
        case "substring", "substringUTF8":
            try arity(2...3)
            let args = try all()
            try requireString(args[0], written, line, t)
            for index in 1..<args.count where !(args[index].type.isInteger || args[index].type.isNothing) {
                throw t.fail(line, "`\(written)` takes whole numbers for its offset and length")
            }
            var sql: Fragment
            if name == "substring" {
                // ClickHouse counts bytes: slice the UTF-8 bytes.
                sql = "CAST(substr(CAST(" + args[0].sql + " AS BLOB), " + args[1].sql
                if args.count == 3 { sql.append(", " + args[2].sql) }
                sql.append(") AS TEXT)")
            } else {
                sql = "substr(" + args[0].sql + ", " + args[1].sql
                if args.count == 3 { sql.append(", " + args[2].sql) }
                sql.append(")")
            }
            let nullable = args.contains { $0.type.nullable }
            return t.derived(sql, SQLType.string.nullable(nullable), rendered(args), args)
        case "startsWith", "endsWith":
            try arity(2...2)
            let args = try all()
            try requireString(args[0], written, line, t)
            try requireString(args[1], written, line, t)
            let nullable = args[0].type.nullable || args[1].type.nullable
            let sql: Fragment
            if name == "startsWith" {
                sql = "(instr(" + args[0].sql + ", " + args[1].sql + ") = 1)"
            } else if case .string(let suffix) = args[1].constant {
                let count = suffix.unicodeScalars.count
                sql =
                    count == 0
                    ? "(" + args[0].sql + " = " + args[0].sql + ")"
                    : "(substr(" + args[0].sql + ", -\(count)) = " + args[1].sql + ")"
            } else {
                sql =
                    "(" + args[1].sql + " = '' OR substr(" + args[0].sql + ", -length(" + args[1].sql + ")) = "
                    + args[1].sql + ")"
            }
            return t.derived(sql, SQLType.uint8.nullable(nullable), rendered(args), args)
        case "position":
            try arity(2...2)
            let args = try all()
            try requireString(args[0], written, line, t)
            try requireString(args[1], written, line, t)
            let nullable = args[0].type.nullable || args[1].type.nullable
            return t.derived(
                "instr(CAST(" + args[0].sql + " AS BLOB), CAST(" + args[1].sql + " AS BLOB))",
                SQLType.uint64.nullable(nullable),
                rendered(args),
                args
            )
        case "toString":
            try arity(1...2)
            let args = try all()
            if args.count == 2 { try requireUTC(args[1], written, line, t) }
            var typed = try toString(args[0], line: line, t)
            typed.name = rendered(args)
            return typed
        case "toInt32", "toInt64", "toUInt32", "toUInt64", "toFloat64":
            try arity(1...1)
            let value = try arg(0)
            var typed = try convert(value, to: name, line: line, t)
            typed.name = rendered([value])
            return typed
        case "toDate", "toDateTime":
            try arity(1...2)
            let args = try all()
            if args.count == 2 { try requireUTC(args[1], written, line, t) }
            var typed = try convert(args[0], to: name, line: line, t)
            typed.name = rendered(args)
            return typed
        case "now", "today", "yesterday":
            try arity(0...1)
            if arguments.count == 1 { try requireUTC(try arg(0), written, line, t) }
            let today = t.now >= 0 ? t.now / 86_400 : (t.now - 86_399) / 86_400
            let value = name == "now" ? t.now : name == "today" ? today : today - 1
            return Typed(
                sql: Fragment(SQLiteTranslator.integerLiteral(value)),
                type: name == "now" ? .dateTime : .date,
                name: "\(written)()",
                constant: .integer(value)
            )
        case "dateDiff":
            try arity(3...4)
            let args = try all()
            if args.count == 4 { try requireUTC(args[3], written, line, t) }
            return try dateDiff(args, name: rendered(args), line: line, t)
        case "toStartOfInterval":
            try arity(2...3)
            let value = try arg(0)
            if arguments.count == 3 { try requireUTC(try arg(2), written, line, t) }
            guard case .interval(let amount, let unit) = arguments[1].kind else {
                throw t.fail(
                    line,
                    "`toStartOfInterval` takes a date and an INTERVAL (toStartOfInterval(t, INTERVAL 15 MINUTE))"
                )
            }
            let count = try t.intervalAmount(amount, unit, line: line, context)
            let name = "\(written)(\(value.name), toInterval\(unit.rawValue)(\(count)))"
            return try startOfInterval(value, count, unit, name: name, line: line, t)
        default:
            try arity(1...2)
            let args = try all()
            if args.count == 2 {
                if name == "toStartOfWeek" {
                    guard case .integer(let mode) = args[1].constant, (0...9).contains(mode) else {
                        throw t.fail(line, "`toStartOfWeek`'s mode is a whole number from 0 to 9")
                    }
                } else {
                    try requireUTC(args[1], written, line, t)
                }
            }
            return try dateFunction(name, args, name: rendered(args), line: line, t)
        }
    }

    private static func aggregate(
        _ name: String,
        _ written: String,
        _ arguments: [SQLExpr],
        distinct: Bool,
        line: Int,
        _ context: Context,
        _ t: SQLiteTranslator
    ) throws(AnalyticsError) -> Typed? {
        let aggregates: Set<String> = [
            "count", "countIf", "sum", "sumIf", "avg", "avgIf", "min", "max", "minIf", "maxIf", "uniq", "uniqExact",
            "any",
        ]
        guard aggregates.contains(name) else { return nil }
        switch context.aggregates {
        case .forbidden(let clause):
            throw t.fail(line, "the aggregate function `\(written)` is not allowed in \(clause)")
        case .inside(let outer):
            throw t.fail(line, "the aggregate function `\(written)` is inside the aggregate function `\(outer)`")
        case .allowed:
            break
        }
        var inner = context
        inner.aggregates = .inside(written)
        inner.groupKeys = nil
        var args: [Typed] = []
        for argument in arguments {
            if case .star = argument.kind, name == "count" { continue }
            args.append(try t.expr(argument, inner))
        }
        let conditional = name.hasSuffix("If")
        let expected = (name == "count" ? 0...1 : conditional ? (name == "countIf" ? 1...1 : 2...2) : 1...1)
        guard expected.contains(args.count) || (name == "count" && arguments.count == 1) else {
            throw t.fail(line, "`\(written)` takes \(expected.upperBound) argument(s), not \(arguments.count)")
        }
        var filter = Fragment()
        if conditional, let condition = args.last {
            guard condition.type.isNumber || condition.type.isNothing else {
                throw t.fail(line, "`\(written)`'s condition is a number (0 is false), not \(condition.type)")
            }
            filter = " FILTER (WHERE " + condition.sql + ")"
        }
        let shown = "\(written)(\(distinct ? "DISTINCT " : "")\(args.map(\.name).joined(separator: ", ")))"
        func result(_ sql: Fragment, _ type: SQLType) -> Typed {
            Typed(sql: sql, type: type, name: shown, hasAggregate: true)
        }
        let distinctSQL = distinct ? "DISTINCT " : ""
        switch name {
        case "count", "countIf":
            guard let value = args.first, name == "count" else { return result("count(*)" + filter, .uint64) }
            return result("count(" + distinctSQL + value.sql + ")", .uint64)
        case "uniq", "uniqExact":
            return result("count(DISTINCT " + args[0].sql + ")", .uint64)
        case "sum", "sumIf":
            let value = args[0]
            try requireNumber(value, written, line, t)
            let type: SQLType =
                value.type.isFloat ? .float64 : value.type.isSigned || value.type.isNothing ? .int64 : .uint64
            let sum = "sum(" + distinctSQL + value.sql + ")" + filter
            // ClickHouse's sum of no rows is 0; SQLite's is NULL.
            return value.type.nullable ? result(sum, type.nullable(true)) : result("coalesce(" + sum + ", 0)", type)
        case "avg", "avgIf":
            let value = args[0]
            try requireNumber(value, written, line, t)
            return result(
                "avg(" + distinctSQL + value.sql + ")" + filter,
                SQLType.float64.nullable(value.type.nullable)
            )
        default:
            // min, max, any and their -If: ClickHouse gives the type's default for no rows, SQLite NULL.
            let value = args[0]
            let function = name.hasPrefix("max") ? "max(" : "min("
            let aggregate = function + value.sql + ")" + filter
            if value.type.nullable || value.type.isNothing { return result(aggregate, value.type) }
            return result("coalesce(" + aggregate + ", " + (value.type.isString ? "''" : "0") + ")", value.type)
        }
    }

    static func requireNumber(
        _ value: Typed,
        _ function: String,
        _ line: Int,
        _ t: SQLiteTranslator
    ) throws(AnalyticsError) {
        guard value.type.isNumber || value.type.isNothing else {
            throw t.fail(line, "`\(function)` takes a number, not \(value.type)")
        }
    }

    static func requireString(
        _ value: Typed,
        _ function: String,
        _ line: Int,
        _ t: SQLiteTranslator
    ) throws(AnalyticsError) {
        guard value.type.isString || value.type.isNothing else {
            throw t.fail(line, "`\(function)` takes a String, not \(value.type)")
        }
    }

    static func requireTemporal(
        _ value: Typed,
        _ function: String,
        _ line: Int,
        _ t: SQLiteTranslator
    ) throws(AnalyticsError) {
        guard value.type.isTemporal else {
            throw t.fail(line, "`\(function)` takes a Date or a DateTime, not \(value.type)")
        }
    }

    static func requireUTC(
        _ value: Typed,
        _ function: String,
        _ line: Int,
        _ t: SQLiteTranslator
    ) throws(AnalyticsError) {
        guard case .string(let zone) = value.constant,
            ["UTC", "Etc/UTC", "GMT", "Etc/GMT", "UCT", "Zulu"].contains(zone)
        else {
            throw t.clickhouseOnly(line, "`\(function)` with a time zone other than 'UTC'")
        }
    }

    private static func conditional(
        _ branches: [(Typed, Typed)],
        otherwise: Typed,
        name: String,
        line: Int,
        _ t: SQLiteTranslator
    ) throws(AnalyticsError) -> Typed {
        var sql = Fragment("CASE")
        var children: [Typed] = []
        for (condition, value) in branches {
            guard condition.type.isNumber || condition.type.isNothing else {
                throw t.fail(line, "a condition is a number (0 is false), not \(condition.type)")
            }
            sql.append(" WHEN " + condition.sql + " THEN " + value.sql)
            children += [condition, value]
        }
        sql.append(" ELSE " + otherwise.sql + " END")
        children.append(otherwise)
        let results = branches.map(\.1) + [otherwise]
        guard var type = SQLType.common(results.map(\.type)) else {
            throw t.fail(
                line,
                "the branches have no common type: \(results.map(\.type.description).joined(separator: ", "))"
            )
        }
        type.lowCardinality = false
        return t.derived(sql, type, name, children)
    }

    static func modulo(
        _ left: Typed,
        _ right: Typed,
        name: String,
        line: Int,
        translator t: SQLiteTranslator
    ) throws(AnalyticsError) -> Typed {
        try requireNumber(left, "%", line, t)
        try requireNumber(right, "%", line, t)
        let nullable = left.type.nullable || right.type.nullable
        if left.type.isFloat || right.type.isFloat {
            return t.derived(
                "mod(" + left.sql + ", " + right.sql + ")",
                SQLType.float64.nullable(nullable),
                name,
                [left, right]
            )
        }
        let signed = left.type.isSigned
        let bits = signed ? min(right.type.bits * 2, 64) : right.type.bits
        return t.derived(
            "(" + left.sql + " % " + right.sql + ")",
            SQLType(.int(bits: bits, signed: signed), nullable: nullable),
            name,
            [left, right]
        )
    }

    static func concat(_ args: [Typed], line: Int, translator t: SQLiteTranslator) throws(AnalyticsError) -> Typed {
        var parts: [Fragment] = []
        for arg in args {
            parts.append(arg.type.isString || arg.type.isNothing ? arg.sql : try toString(arg, line: line, t).sql)
        }
        let nullable = args.contains { $0.type.nullable }
        let sql = parts.count == 1 ? parts[0] : "(" + Fragment.joined(parts, separator: " || ") + ")"
        return t.derived(
            sql,
            SQLType.string.nullable(nullable),
            "concat(\(args.map(\.name).joined(separator: ", ")))",
            args
        )
    }

    static func toString(_ value: Typed, line: Int, _ t: SQLiteTranslator) throws(AnalyticsError) -> Typed {
        let sql: Fragment
        switch value.type.base {
        case .string, .nothing: sql = value.sql
        case .int, .float: sql = "CAST(" + value.sql + " AS TEXT)"
        case .date: sql = "date(" + value.sql + " * 86400, 'unixepoch')"
        case .dateTime: sql = "strftime('%Y-%m-%d %H:%M:%S', " + value.sql + ", 'unixepoch')"
        }
        return t.derived(sql, SQLType.string.nullable(value.type.nullable), "toString(\(value.name))", [value])
    }

    static func convert(
        _ value: Typed,
        to function: String,
        line: Int,
        _ t: SQLiteTranslator
    ) throws(AnalyticsError) -> Typed {
        let nullable = value.type.nullable
        let name = "\(function)(\(value.name))"
        switch function {
        case "toDate", "toDateTime":
            let isDate = function == "toDate"
            if case .string(let text) = value.constant, value.type.isString {
                let converted =
                    isDate
                    ? RowValues.days(text) ?? CivilDate.seconds(text).map { $0 / 86_400 } : CivilDate.seconds(text)
                guard let converted else {
                    let message = "`\(function)('\(text.prefix(64))')`: not a \(isDate ? "Date" : "DateTime")"
                    if value.isPlaceholder { throw AnalyticsError.badParameter(name: nil, message: message) }
                    throw t.fail(line, message)
                }
                let literal: PipeTemplate.Value = isDate ? .date(converted) : .dateTime(converted)
                return Typed(
                    sql: value.isPlaceholder
                        ? Fragment("?", [literal]) : Fragment(SQLiteTranslator.integerLiteral(converted)),
                    type: isDate ? .date : .dateTime,
                    name: name,
                    constant: .integer(converted),
                    isPlaceholder: value.isPlaceholder
                )
            }
            let sql: Fragment
            switch value.type.base {
            case .date: sql = isDate ? value.sql : "(" + value.sql + " * 86400)"
            case .dateTime: sql = isDate ? "(" + value.sql + " / 86400)" : value.sql
            case .string: sql = isDate ? "(unixepoch(" + value.sql + ") / 86400)" : "unixepoch(" + value.sql + ")"
            case .int where !isDate: sql = value.sql
            case .nothing: sql = value.sql
            default:
                throw t.clickhouseOnly(line, "`\(function)` of \(value.type)")
            }
            return t.derived(sql, SQLType(isDate ? .date : .dateTime, nullable: nullable), name, [value])
        case "toFloat64":
            guard !value.type.isTemporal else { throw t.clickhouseOnly(line, "`toFloat64` of \(value.type)") }
            return t.derived("CAST(" + value.sql + " AS REAL)", SQLType.float64.nullable(nullable), name, [value])
        default:
            let signed = function.hasPrefix("toInt")
            let bits = function.hasSuffix("32") ? 32 : 64
            let type = SQLType(.int(bits: bits, signed: signed), nullable: nullable)
            if case .string(let text) = value.constant, !value.isPlaceholder {
                guard let number = Int64(text.trimmingCharacters(in: .whitespaces)) else {
                    throw t.fail(line, "`\(function)('\(text.prefix(64))')`: not a whole number")
                }
                var typed = try t.constant(.integer(number), line: line)
                typed.type = type
                typed.name = name
                return typed
            }
            if value.type.isInteger || value.type.isTemporal {
                return t.derived(value.sql, type, name, [value])
            }
            return t.derived("CAST(" + value.sql + " AS INTEGER)", type, name, [value])
        }
    }

    static func cast(
        _ operand: SQLExpr,
        to typeName: String,
        line: Int,
        _ context: Context,
        translator t: SQLiteTranslator
    ) throws(AnalyticsError) -> Typed {
        let value = try t.expr(operand, context)
        let type = typeName.trimmingCharacters(in: .whitespaces)
        let functions = [
            "String": "toString", "Int32": "toInt32", "Int64": "toInt64", "UInt32": "toUInt32", "UInt64": "toUInt64",
            "Float64": "toFloat64", "Date": "toDate", "DateTime": "toDateTime",
        ]
        guard let function = functions[type] else { throw t.clickhouseOnly(line, "`CAST(… AS \(type))`") }
        var typed =
            function == "toString"
            ? try toString(value, line: line, t) : try convert(value, to: function, line: line, t)
        typed.name = "CAST(\(value.name), '\(type)')"
        return typed
    }

    private static func round(
        _ args: [Typed],
        name: String,
        line: Int,
        _ t: SQLiteTranslator
    ) throws(AnalyticsError) -> Typed {
        let value = args[0]
        try requireNumber(value, "round", line, t)
        var digits: Int64 = 0
        if args.count == 2 {
            guard case .integer(let constant) = args[1].constant, (-15...15).contains(constant) else {
                throw t.fail(line, "`round`'s number of digits is a whole-number constant from -15 to 15")
            }
            digits = constant
        }
        if value.type.isInteger || value.type.isNothing {
            guard digits >= 0 else { throw t.clickhouseOnly(line, "`round` of an integer to negative digits") }
            return t.derived(value.sql, value.type.plain.nullable(value.type.nullable), name, args)
        }
        // ClickHouse rounds floats half to even (nearbyint of x·10ⁿ, then back): adding and subtracting 1.5·2⁵²
        // rounds a double to an integer the same way.
        let scale = "1e\(abs(digits))"
        let scaled: Fragment =
            digits == 0 ? value.sql : digits > 0 ? "(" + value.sql + " * \(scale))" : "(" + value.sql + " / \(scale))"
        let rounded = "((" + scaled + " + 6755399441055744.0) - 6755399441055744.0)"
        let sql: Fragment =
            digits == 0 ? rounded : digits > 0 ? "(" + rounded + " / \(scale))" : "(" + rounded + " * \(scale))"
        return t.derived(sql, value.type.plain.nullable(value.type.nullable), name, args)
    }

    /// Seconds since the epoch of a Date or DateTime.
    private static func seconds(_ value: Typed) -> Fragment {
        value.type.base == .date ? "(" + value.sql + " * 86400)" : value.sql
    }

    /// Days since 1970-01-01 of a Date or DateTime.
    private static func days(_ value: Typed) -> Fragment {
        value.type.base == .date ? value.sql : "(" + value.sql + " / 86400)"
    }

    private static func dateFunction(
        _ function: String,
        _ args: [Typed],
        name: String,
        line: Int,
        _ t: SQLiteTranslator
    ) throws(AnalyticsError) -> Typed {
        let value = args[0]
        if function == "toUnixTimestamp", value.type.isString {
            return try convert(value, to: "toDateTime", line: line, t).renamed(name, type: .uint32)
        }
        try requireTemporal(value, function, line, t)
        let nullable = value.type.nullable
        let s = seconds(value)
        let d = days(value)
        func result(_ sql: Fragment, _ type: SQLType, startsPeriod: Bool = false) -> Typed {
            var typed = t.derived(sql, type.nullable(nullable), name, [value])
            typed.startsPeriod = startsPeriod
            return typed
        }
        func truncated(_ seconds: Int64) -> Typed { result("(" + s + " / \(seconds) * \(seconds))", .dateTime) }
        func strftime(_ format: String, _ type: SQLType) -> Typed {
            result("CAST(strftime('\(format)', " + s + ", 'unixepoch') AS INTEGER)", type)
        }
        switch function {
        case "toStartOfMinute": return truncated(60)
        case "toStartOfFiveMinutes": return truncated(300)
        case "toStartOfTenMinutes": return truncated(600)
        case "toStartOfFifteenMinutes": return truncated(900)
        case "toStartOfHour": return truncated(3_600)
        case "toStartOfDay": return truncated(86_400)
        case "toMonday":
            return result("((" + d + " + 3) / 7 * 7 - 3)", .date)
        case "toStartOfWeek":
            var mondayFirst = false
            if args.count == 2, case .integer(let mode) = args[1].constant { mondayFirst = mode % 2 == 1 }
            return mondayFirst
                ? result("((" + d + " + 3) / 7 * 7 - 3)", .date) : result("((" + d + " + 4) / 7 * 7 - 4)", .date)
        case "toStartOfMonth":
            return result("(unixepoch(" + s + ", 'unixepoch', 'start of month') / 86400)", .date, startsPeriod: true)
        case "toStartOfQuarter":
            return startOfMonths(value, 3, name: name, t)
        case "toStartOfYear":
            return result("(unixepoch(" + s + ", 'unixepoch', 'start of year') / 86400)", .date, startsPeriod: true)
        case "toDate": return result(d, .date)
        case "toYYYYMM": return strftime("%Y%m", .uint32)
        case "toYYYYMMDD": return strftime("%Y%m%d", .uint32)
        case "toYear": return strftime("%Y", .uint16)
        case "toMonth": return strftime("%m", .uint8)
        case "toDayOfMonth": return strftime("%d", .uint8)
        case "toDayOfYear": return strftime("%j", .uint16)
        case "toQuarter":
            return result("((CAST(strftime('%m', " + s + ", 'unixepoch') AS INTEGER) + 2) / 3)", .uint8)
        case "toHour": return result("(" + s + " / 3600 % 24)", .uint8)
        case "toMinute": return result("(" + s + " / 60 % 60)", .uint8)
        case "toSecond": return result("(" + s + " % 60)", .uint8)
        case "toDayOfWeek": return result("((" + d + " + 3) % 7 + 1)", .uint8)
        case "toUnixTimestamp": return result(s, .uint32)
        default:
            throw t.fail(line, "`\(function)` is not translated")
        }
    }

    /// The first day of the `months`-month period (a divisor of 12) holding the date.
    private static func startOfMonths(_ value: Typed, _ months: Int64, name: String, _ t: SQLiteTranslator) -> Typed {
        let s = seconds(value)
        let sql: Fragment =
            months == 1
            ? "(unixepoch(" + s + ", 'unixepoch', 'start of month') / 86400)"
            : "(unixepoch(" + s + ", 'unixepoch', 'start of year', '+' || ((CAST(strftime('%m', " + s
                + ", 'unixepoch') AS INTEGER) - 1) / \(months) * \(months)) || ' months') / 86400)"
        var typed = t.derived(sql, SQLType.date.nullable(value.type.nullable), name, [value])
        typed.startsPeriod = true
        return typed
    }

    private static func startOfInterval(
        _ value: Typed,
        _ count: Int64,
        _ unit: IntervalUnit,
        name: String,
        line: Int,
        _ t: SQLiteTranslator
    ) throws(AnalyticsError) -> Typed {
        try requireTemporal(value, "toStartOfInterval", line, t)
        guard count >= 1 else { throw t.fail(line, "`toStartOfInterval` needs a positive interval") }
        if let unitSeconds = unit.seconds, unit != .week {
            let (total, overflowed) = count.multipliedReportingOverflow(by: unitSeconds)
            guard !overflowed, total <= 1_000_000_000_000 else {
                throw t.fail(line, "INTERVAL \(count) \(unit.rawValue.uppercased()) is out of range")
            }
            return t.derived(
                "(" + seconds(value) + " / \(total) * \(total))",
                SQLType.dateTime.nullable(value.type.nullable),
                name,
                [value]
            )
        }
        let months: Int64
        switch unit {
        case .week:
            guard count == 1 else { throw t.clickhouseOnly(line, "`toStartOfInterval` by several weeks") }
            return t.derived(
                "((" + days(value) + " + 3) / 7 * 7 - 3)",
                SQLType.date.nullable(value.type.nullable),
                name,
                [value]
            )
        case .month: months = count
        case .quarter: months = count <= 4 ? count * 3 : 0
        default: months = count == 1 ? 12 : 0
        }
        guard [1, 2, 3, 4, 6, 12].contains(months) else {
            throw t.clickhouseOnly(
                line,
                "`toStartOfInterval` by \(count) \(unit.rawValue.lowercased())s (Keel takes periods dividing a year)"
            )
        }
        if months == 12 {
            var typed = t.derived(
                "(unixepoch(" + seconds(value) + ", 'unixepoch', 'start of year') / 86400)",
                SQLType.date.nullable(value.type.nullable),
                name,
                [value]
            )
            typed.startsPeriod = true
            return typed
        }
        return startOfMonths(value, months, name: name, t)
    }

    private static func dateDiff(
        _ args: [Typed],
        name: String,
        line: Int,
        _ t: SQLiteTranslator
    ) throws(AnalyticsError) -> Typed {
        guard case .string(let written) = args[0].constant else {
            throw t.fail(line, "`dateDiff`'s unit is a string constant ('second', 'minute', 'hour', 'day', …)")
        }
        let units: [String: IntervalUnit] = [
            "ss": .second, "s": .second, "mi": .minute, "n": .minute, "hh": .hour, "h": .hour, "dd": .day,
            "d": .day, "wk": .week, "ww": .week, "mm": .month, "m": .month, "qq": .quarter, "q": .quarter,
            "yyyy": .year, "yy": .year,
        ]
        guard let unit = units[written.lowercased()] ?? IntervalUnit(keyword: written) else {
            throw t.fail(
                line,
                "`dateDiff`: '\(written)' is not a unit (second, minute, hour, day, week, month, quarter, year)"
            )
        }
        let start = args[1]
        let end = args[2]
        try requireTemporal(start, "dateDiff", line, t)
        try requireTemporal(end, "dateDiff", line, t)
        func relative(_ value: Typed) -> Fragment {
            let s = seconds(value)
            switch unit {
            case .second: return s
            case .minute: return "(" + s + " / 60)"
            case .hour: return "(" + s + " / 3600)"
            case .day: return days(value)
            case .week: return "((" + days(value) + " + 3) / 7)"
            case .month:
                return "(CAST(strftime('%Y', " + s + ", 'unixepoch') AS INTEGER) * 12 + CAST(strftime('%m', " + s
                    + ", 'unixepoch') AS INTEGER))"
            case .quarter:
                return "(CAST(strftime('%Y', " + s + ", 'unixepoch') AS INTEGER) * 4 + (CAST(strftime('%m', " + s
                    + ", 'unixepoch') AS INTEGER) - 1) / 3)"
            case .year: return "CAST(strftime('%Y', " + s + ", 'unixepoch') AS INTEGER)"
            }
        }
        return t.derived(
            "(" + relative(end) + " - " + relative(start) + ")",
            SQLType.int64.nullable(start.type.nullable || end.type.nullable),
            name,
            args
        )
    }
}

extension Typed {
    func renamed(_ name: String, type: SQLType) -> Typed {
        var typed = self
        typed.name = name
        typed.type = type.nullable(self.type.nullable)
        return typed
    }
}
