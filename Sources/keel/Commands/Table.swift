import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A plain-text table for the terminal: upper-cased headers, columns padded to their widest cell (cut at
/// `maxWidth` with `…`), the header bold only when standard output is a terminal.
struct TextTable {
    var columns: [String]
    var rows: [[String]]
    var maxWidth = 48

    func render(colours: Bool = isatty(STDOUT_FILENO) == 1) -> String {
        let cells = rows.map { $0.map { cut($0) } }
        let headers = columns.map { cut($0.uppercased()) }
        var widths = headers.map(\.count)
        for row in cells {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ values: [String]) -> String {
            zip(values, widths).map { $0 + String(repeating: " ", count: max(0, $1 - $0.count)) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        let header = line(headers)
        var out = colours ? "\u{1B}[1m\(header)\u{1B}[0m\n" : header + "\n"
        for row in cells { out += line(row) + "\n" }
        return out
    }

    private func cut(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\n", with: "⏎")
        return flat.count > maxWidth ? String(flat.prefix(maxWidth - 1)) + "…" : flat
    }
}

/// A cell's text for a JSON value of `/query` (absent → empty).
func cellText(_ value: Any?) -> String {
    switch value {
    case nil, is NSNull: ""
    case let text as String: text
    case let number as NSNumber: number.stringValue
    case let other?: "\(other)"
    }
}

/// A SQL string literal (quotes doubled), for filters the CLI puts into `/query` statements.
func sqlLiteral(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
}
