/// A pipe node's template (SQL that started with `%`), Tinybird's language in the subset Keel takes: typed
/// parameters `{{ String(country, 'US') }}`, `{{ DateTime(start, '2026-01-01 00:00:00') }}`,
/// `{{ Int32(limit, 10) }}` and `{% if defined(x) %}…{% else %}…{% end %}`. Expanding it gives SQL with a `?`
/// for each parameter and the values to bind: a parameter never becomes SQL text.
public struct PipeTemplate: Sendable {
    /// A parameter's value, typed as the template declares it.
    public enum Value: Hashable, Sendable {
        case text(String)
        case integer(Int64)
        case real(Double)
        /// Seconds since the UNIX epoch.
        case dateTime(Int64)
        /// Days since 1970-01-01.
        case date(Int64)
    }

    /// SQL with `?` placeholders, and the values in their order.
    public struct Expanded: Hashable, Sendable {
        public var sql: String
        public var bindings: [Value]
    }

    public struct TemplateError: Error, Hashable, Sendable, CustomStringConvertible {
        /// The parameter at fault, when one is.
        public var parameter: String?
        public var message: String
        public var description: String { message }
    }

    private indirect enum Part: Sendable {
        case text(String)
        case parameter(type: String, name: String, fallback: String?)
        case conditional(name: String, then: [Part], otherwise: [Part])
    }

    private let parts: [Part]

    static let types = [
        "String", "DateTime", "Date", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16",
        "UInt32", "UInt64", "Float32", "Float64",
    ]

    /// Reads a template; errors say what was expected where.
    public init(_ text: String) throws(TemplateError) {
        var scanner = Substring(text)
        var stack: [(name: String, then: [Part], otherwise: [Part]?)] = []
        var parts: [Part] = []
        func append(_ part: Part) {
            if stack.isEmpty {
                parts.append(part)
            } else if stack[stack.count - 1].otherwise != nil {
                stack[stack.count - 1].otherwise?.append(part)
            } else {
                stack[stack.count - 1].then.append(part)
            }
        }
        while !scanner.isEmpty {
            guard let open = scanner.range(of: "{"),
                scanner[open.upperBound...].first == "{" || scanner[open.upperBound...].first == "%"
            else {
                append(.text(String(scanner)))
                break
            }
            append(.text(String(scanner[..<open.lowerBound])))
            let isExpression = scanner[open.upperBound...].first == "{"
            let closing = isExpression ? "}}" : "%}"
            let bodyStart = scanner.index(after: open.upperBound)
            guard let close = scanner[bodyStart...].range(of: closing) else {
                throw TemplateError(
                    parameter: nil,
                    message: "a template tag opened with `{\(isExpression ? "{" : "%")` is not closed with `\(closing)`"
                )
            }
            let body = scanner[bodyStart..<close.lowerBound].trimmingSpaces
            scanner = scanner[close.upperBound...]
            if isExpression {
                append(try Self.parameter(body))
                continue
            }
            if body.hasPrefix("if defined(") && body.hasSuffix(")") {
                let name = body.dropFirst("if defined(".count).dropLast().trimmingSpaces
                guard Self.isName(name) else {
                    throw TemplateError(parameter: nil, message: "`{% \(body) %}`: expected `if defined(name)`")
                }
                stack.append((String(name), [], nil))
            } else if body == "else" {
                guard !stack.isEmpty, stack[stack.count - 1].otherwise == nil else {
                    throw TemplateError(parameter: nil, message: "`{% else %}` without an open `{% if %}`")
                }
                stack[stack.count - 1].otherwise = []
            } else if body == "end" {
                guard let open = stack.popLast() else {
                    throw TemplateError(parameter: nil, message: "`{% end %}` without an open `{% if %}`")
                }
                append(.conditional(name: open.name, then: open.then, otherwise: open.otherwise ?? []))
            } else {
                throw TemplateError(
                    parameter: nil,
                    message:
                        "`{% \(body) %}` is not supported; Keel takes `{% if defined(x) %}`, `{% else %}` and `{% end %}`"
                )
            }
        }
        guard stack.isEmpty else {
            throw TemplateError(
                parameter: nil,
                message: "`{% if defined(\(stack[stack.count - 1].name)) %}` has no `{% end %}`"
            )
        }
        self.parts = parts
    }

    /// The names of the parameters the template reads.
    public var parameters: Set<String> { Self.names(parts) }

    private static func names(_ parts: [Part]) -> Set<String> {
        parts.reduce(into: Set<String>()) { names, part in
            switch part {
            case .text: break
            case .parameter(_, let name, _): names.insert(name)
            case .conditional(let name, let then, let otherwise):
                names.insert(name)
                names.formUnion(Self.names(then))
                names.formUnion(Self.names(otherwise))
            }
        }
    }

    /// Expands with the request's parameters (as the query string gives them); a value that does not read as
    /// its type, or a required one that is missing, is an error naming the parameter.
    public func expand(_ parameters: [String: String]) throws(TemplateError) -> Expanded {
        var expanded = Expanded(sql: "", bindings: [])
        try Self.expand(parts, parameters, into: &expanded)
        return expanded
    }

    private static func expand(
        _ parts: [Part],
        _ parameters: [String: String],
        into expanded: inout Expanded
    ) throws(TemplateError) {
        for part in parts {
            switch part {
            case .text(let text):
                expanded.sql += text
            case .parameter(let type, let name, let fallback):
                guard let raw = parameters[name] ?? fallback else {
                    throw TemplateError(parameter: name, message: "parameter '\(name)' (\(type)) is required")
                }
                guard let value = value(raw, type: type) else {
                    throw TemplateError(
                        parameter: name,
                        message: "parameter '\(name)': '\(raw.prefix(64))' is not a \(type)"
                    )
                }
                expanded.sql += "?"
                expanded.bindings.append(value)
            case .conditional(let name, let then, let otherwise):
                try expand(parameters[name] != nil ? then : otherwise, parameters, into: &expanded)
            }
        }
    }

    private static func value(_ raw: String, type: String) -> Value? {
        switch type {
        case "String": return .text(raw)
        case "DateTime": return RowValues.seconds(raw.count == 10 ? raw + " 00:00:00" : raw).map(Value.dateTime)
        case "Date": return RowValues.days(raw).map(Value.date)
        case "Float32", "Float64": return Double(raw).flatMap { $0.isFinite ? .real($0) : nil }
        default:
            guard let number = Int64(raw) else { return nil }
            let result = RowValues.store(
                number,
                as: ColumnType.parse(Substring(type)) ?? .int(bits: 64, signed: true),
                column: ""
            )
            guard case .success(.integer(let fitted)) = result else { return nil }
            return .integer(fitted)
        }
    }

    /// `Type(name)` or `Type(name, default)`, the default a quoted string or a number.
    private static func parameter(_ body: Substring) throws(TemplateError) -> Part {
        guard let paren = body.firstIndex(of: "("), body.last == ")" else {
            throw TemplateError(
                parameter: nil,
                message: "`{{ \(body) }}`: expected a typed parameter such as {{ String(country, 'US') }}"
            )
        }
        let type = String(body[..<paren].trimmingSpaces)
        guard types.contains(type) else {
            throw TemplateError(
                parameter: nil,
                message: "`{{ \(body) }}`: \(type) is not one of \(types.joined(separator: ", "))"
            )
        }
        let arguments = body[body.index(after: paren)..<body.index(before: body.endIndex)]
        let name: Substring
        var fallback: String?
        if let comma = arguments.firstIndex(of: ",") {
            name = arguments[..<comma].trimmingSpaces
            var text = arguments[arguments.index(after: comma)...].trimmingSpaces
            if text.count >= 2, text.first == "'" || text.first == "\"", text.last == text.first {
                text = text.dropFirst().dropLast()
            }
            fallback = String(text)
        } else {
            name = arguments.trimmingSpaces
        }
        guard isName(name) else {
            throw TemplateError(parameter: nil, message: "`{{ \(body) }}`: '\(name)' is not a parameter name")
        }
        return .parameter(type: type, name: String(name), fallback: fallback)
    }

    private static func isName(_ text: Substring) -> Bool {
        !text.isEmpty && text.first?.isNumber == false && text.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }
    }
}

extension PipeTemplate {
    /// The types each parameter is declared with (`{{ Int32(limit, 10) }}` gives `limit: [Int32]`), for checking
    /// a pipe at deploy with a sample value of each parameter's type.
    public var parameterTypes: [String: [String]] {
        var types: [String: [String]] = [:]
        Self.collectTypes(parts, into: &types)
        return types
    }

    /// The parameters `{% if defined(x) %}` tests: every branch is reached by giving or leaving out these.
    public var conditions: Set<String> {
        var names = Set<String>()
        Self.collectConditions(parts, into: &names)
        return names
    }

    private static func collectTypes(_ parts: [Part], into types: inout [String: [String]]) {
        for part in parts {
            switch part {
            case .text: break
            case .parameter(let type, let name, _):
                if types[name]?.contains(type) != true { types[name, default: []].append(type) }
            case .conditional(_, let then, let otherwise):
                collectTypes(then, into: &types)
                collectTypes(otherwise, into: &types)
            }
        }
    }

    private static func collectConditions(_ parts: [Part], into names: inout Set<String>) {
        for part in parts {
            guard case .conditional(let name, let then, let otherwise) = part else { continue }
            names.insert(name)
            collectConditions(then, into: &names)
            collectConditions(otherwise, into: &names)
        }
    }
}
