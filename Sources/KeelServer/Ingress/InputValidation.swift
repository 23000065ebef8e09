import KeelProtocol

/// Restate's ingress input validation: whether a request's body and content type fit what the handler's
/// manifest declares as its `input`, checked before anything is stored or the handler sees the body.
///
/// A declared input turns into rules, of which one must accept the request (Restate 1.7):
/// - unless `required` is true: an empty body **and** no content type;
/// - with a `contentType` (an `Accept`-style pattern: `*/*`, `type/*` or `type/subtype`): a content type that
///   matches it, and a non-empty body when a `jsonSchema` is declared too.
///
/// So `{}` (no content type, not required) accepts only an empty body without a content type: the handler
/// takes no input. A handler that declares no `input` at all accepts anything (Restate requires a content
/// type with a non-empty body even then; Keel does not, as its own Swift SDK declares no input).
enum InputValidation {
    /// Why the request does not fit, in Restate's words; the caller answers 400 with it.
    enum Failure: Error, Equatable, CustomStringConvertible {
        /// The handler takes no input (or none without a content type) and got a body or a content type.
        case nonEmptyInput(contentType: String?)
        /// A content type is needed and there is none.
        case emptyContentType
        /// The content type does not match the declared pattern.
        case contentTypeNotMatching(String, expected: String)
        /// A JSON input was declared and the body is empty.
        case emptyValue
        /// The declared pattern itself cannot be read (checked at registration too).
        case badConfiguration(String)

        var description: String {
            switch self {
            case .nonEmptyInput(let contentType):
                "the handler takes no input: expected an empty body and no content-type, got a body or content-type\(contentType.map { " '\($0)'" } ?? "")"
            case .emptyContentType:
                "the request has no content-type, and the handler's input needs one"
            case .contentTypeNotMatching(let given, let expected):
                "content-type '\(given)' does not match '\(expected)', which the handler declares as its input"
            case .emptyValue:
                "the handler expects a JSON value and the body is empty"
            case .badConfiguration(let reason):
                "the handler's declared input cannot be checked: \(reason)"
            }
        }
    }

    /// Checks a request against `input` (the handler's manifest entry); nil when it is accepted.
    static func check(contentType: String?, bodyIsEmpty: Bool, input: EndpointManifest.InputPayload?) -> Failure? {
        guard let input else { return nil }
        // An empty or blank header counts as none.
        let contentType = contentType.flatMap { $0.trimmingWhitespace.isEmpty ? nil : $0 }
        var failure: Failure = .badConfiguration("no input rule")
        if input.required != true {
            if bodyIsEmpty, contentType == nil { return nil }
            failure = .nonEmptyInput(contentType: contentType)
        }
        if let pattern = input.contentType {
            switch Pattern(pattern) {
            case nil:
                failure = .badConfiguration("'\(pattern)' is not a content type pattern (type/subtype, type/* or */*)")
            case let pattern?:
                if let contentType {
                    if !pattern.matches(contentType) {
                        failure = .contentTypeNotMatching(contentType, expected: pattern.description)
                    } else if input.jsonSchema != nil, bodyIsEmpty {
                        failure = .emptyValue
                    } else {
                        return nil
                    }
                } else {
                    failure = .emptyContentType
                }
            }
        }
        return failure
    }

    /// An `Accept`-style content type pattern; parameters are ignored and case does not matter.
    struct Pattern: Equatable, CustomStringConvertible {
        /// nil for `*/*`.
        var type: String?
        /// nil for `type/*`.
        var subtype: String?

        init?(_ text: String) {
            guard let (type, subtype) = Self.split(text) else { return nil }
            switch (type, subtype) {
            case ("*", "*"): (self.type, self.subtype) = (nil, nil)
            case ("*", _): return nil
            case (_, "*"): (self.type, self.subtype) = (type, nil)
            default: (self.type, self.subtype) = (type, subtype)
            }
        }

        func matches(_ contentType: String) -> Bool {
            guard let type else { return true }
            guard let (givenType, givenSubtype) = Self.split(contentType), givenType == type else { return false }
            return subtype == nil || subtype == givenSubtype
        }

        var description: String { "\(type ?? "*")/\(subtype ?? "*")" }

        /// `type/subtype` in lower case, without parameters; nil without exactly one `/` or with an empty part.
        private static func split(_ text: String) -> (String, String)? {
            let mediaType = text.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let parts = mediaType.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2 else { return nil }
            let type = String(parts[0]).trimmingWhitespace.lowercased()
            let subtype = String(parts[1]).trimmingWhitespace.lowercased()
            guard !type.isEmpty, !subtype.isEmpty else { return nil }
            return (type, subtype)
        }
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    var trimmingWhitespace: String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" { view.removeFirst() }
        while let last = view.last, last == " " || last == "\t" { view.removeLast() }
        return String(view)
    }
}
