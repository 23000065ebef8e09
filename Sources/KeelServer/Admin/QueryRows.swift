import Foundation
import KeelAnalytics
import KeelStore

/// `/query`'s answer as Restate writes it in JSON: `{"rows": [{"column": value, …}, …]}`, a NULL column left
/// out of its row; Keel adds `"columns": [...]`, the names in the statement's order (rows are objects, whose
/// keys have no order, and a row leaves its NULLs out), for tables in the CLI and the console. Also: bytes as lowercase hex, integers and reals as JSON numbers (a real that is not finite is left
/// out like a NULL). A column name the statement repeats (`SELECT a.id, b.id`) gets `_2`, `_3`, … so no key is
/// lost.
enum QueryRows {
    static func json(_ result: IntrospectionResult) -> Data {
        var seen: [String: Int] = [:]
        let keys = result.columns.map { name -> String in
            let count = (seen[name] ?? 0) + 1
            seen[name] = count
            return PipeResult.quoted(count == 1 ? name : "\(name)_\(count)")
        }
        var out = "{\"rows\":["
        for (index, row) in result.rows.enumerated() {
            if index > 0 { out += "," }
            out += "{"
            var first = true
            for (key, value) in zip(keys, row) {
                let text: String
                switch value {
                case .null: continue
                case .integer(let number): text = String(number)
                case .real(let number):
                    guard number.isFinite else { continue }
                    text = PipeResult.number(number)
                case .text(let string): text = PipeResult.quoted(string)
                case .blob(let bytes): text = "\"" + hex(bytes) + "\""
                }
                if !first { out += "," }
                first = false
                out += key + ":" + text
            }
            out += "}"
        }
        out += "],\"columns\":[" + keys.joined(separator: ",") + "]}"
        return Data(out.utf8)
    }

    private static func hex(_ bytes: Data) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
