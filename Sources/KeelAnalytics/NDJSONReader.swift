import Foundation

/// Reads an NDJSON request body (one JSON object per line) into a datasource's rows: each value checked against
/// its column's type (`RowValues`); a line that is not a JSON object, or whose values do not fit, is quarantined
/// with its line number and the reason, and the other lines are kept.
///
/// Lines are read straight from the body's bytes; only the fields the schema's JSON paths name become values,
/// the rest is checked and skipped.
public enum NDJSONReader {
    /// The longest raw line a quarantine keeps.
    public static let quarantinedLineLimit = 64 * 1024
    /// The most lines one request may hold: a batch's rows take several times their bytes in memory, so a small
    /// gzipped body of millions of tiny lines is refused (`TooManyLines`) before it is held.
    public static let maximumLines = 1_000_000

    public struct TooManyLines: Error, Hashable, Sendable, CustomStringConvertible {
        public var description: String {
            "the body has more than \(NDJSONReader.maximumLines) lines; send them in several requests"
        }
    }

    public static func read(_ body: Data, into datasource: Datasource) throws(TooManyLines) -> IngestBatch {
        // Counted first, so nothing is built for a body that is refused.
        var lines = 0
        for byte in body where byte == 0x0A {
            lines += 1
            if lines >= maximumLines { throw TooManyLines() }
        }
        let paths = PathTree(datasource)
        var batch = IngestBatch(rows: [], quarantined: [])
        body.withUnsafeBytes { bytes in
            var lineNumber = 0
            var start = 0
            var found = [JSONValue?](repeating: nil, count: datasource.columns.count)
            while start < bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != 0x0A { end += 1 }
                lineNumber += 1
                defer { start = end + 1 }
                var scanner = JSONScanner(bytes, from: start, to: end)
                if scanner.atEnd { continue }
                for index in found.indices { found[index] = nil }
                let reason: String
                do throws(JSONScanner.Failure) {
                    guard scanner.isObject() else {
                        // Valid JSON that is not an object, or not JSON at all.
                        _ = try scanner.value()
                        throw JSONScanner.Failure(message: "not a JSON object")
                    }
                    try paths.read(&scanner, into: &found)
                    guard scanner.atEnd else { throw JSONScanner.Failure(message: "more than one JSON value") }
                    switch row(found, datasource) {
                    case .success(let values):
                        batch.rows.append(values)
                        continue
                    case .failure(let error):
                        reason = error.description
                    }
                } catch {
                    reason = error.message == "not a JSON object" ? error.message : "not valid JSON: \(error.message)"
                }
                var rawEnd = min(end, start + quarantinedLineLimit)
                if rawEnd == end, rawEnd > start, bytes[rawEnd - 1] == 0x0D { rawEnd -= 1 }
                let raw = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<rawEnd]), as: UTF8.self)
                batch.quarantined.append(QuarantinedRow(line: lineNumber, reason: reason, raw: raw))
            }
        }
        return batch
    }

    private static func row(_ found: [JSONValue?], _ datasource: Datasource) -> Result<[StoredValue], RowError> {
        var values: [StoredValue] = []
        values.reserveCapacity(found.count)
        for (column, value) in zip(datasource.columns, found) {
            switch RowValues.store(json: value, as: column.type, column: column.name) {
            case .success(let stored): values.append(stored)
            case .failure(let error): return .failure(error)
            }
        }
        return .success(values)
    }

    /// The schema's JSON paths as a tree of keys: a key names a column, or leads to more keys, or both.
    private struct PathTree {
        struct Node {
            var key: [UInt8]
            var column: Int?
            var children: [Node]
        }

        var roots: [Node] = []

        init(_ datasource: Datasource) {
            for (column, definition) in datasource.columns.enumerated() {
                Self.insert(definition.jsonPath ?? [definition.name], column: column, into: &roots)
            }
        }

        private static func insert(_ path: [String], column: Int, into nodes: inout [Node]) {
            guard let first = path.first else { return }
            let key = Array(first.utf8)
            let index =
                nodes.firstIndex { $0.key == key }
                ?? {
                    nodes.append(Node(key: key, column: nil, children: []))
                    return nodes.count - 1
                }()
            if path.count == 1 {
                nodes[index].column = column
            } else {
                insert(Array(path.dropFirst()), column: column, into: &nodes[index].children)
            }
        }

        func read(_ scanner: inout JSONScanner, into found: inout [JSONValue?]) throws(JSONScanner.Failure) {
            try Self.read(roots, &scanner, depth: 0, into: &found)
        }

        private static func read(
            _ nodes: [Node],
            _ scanner: inout JSONScanner,
            depth: Int,
            into found: inout [JSONValue?]
        ) throws(JSONScanner.Failure) {
            try scanner.object(depth: depth) { scanner, key throws(JSONScanner.Failure) in
                guard let node = nodes.first(where: { $0.key.elementsEqual(key) }) else {
                    try scanner.skipValue()
                    return
                }
                if !node.children.isEmpty, scanner.isObject() {
                    if let column = node.column { found[column] = .object([]) }
                    try read(node.children, &scanner, depth: depth + 1, into: &found)
                } else if let column = node.column {
                    found[column] = try scanner.value(depth: depth + 1)
                } else {
                    try scanner.skipValue()
                }
            }
        }
    }
}
