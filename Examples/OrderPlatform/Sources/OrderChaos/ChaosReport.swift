import Foundation
import OrderPlatformKit

extension ChaosRun {
    /// The table, the summary line, the violations and the HTML report.
    func report(
        _ orders: [PlacedOrder],
        audit: LedgerAudit,
        revenueMatches: Bool,
        kills: [(at: Double, restart: Double)],
        resumed: Int,
        outage: (start: Double, end: Double)?
    ) -> ChaosOutcome {
        let answered = orders.filter { $0.answeredAt != nil }
        let accepted = orders.filter { $0.status == 200 || $0.status == 402 }.count
        let latencies = answered.compactMap { order in order.answeredAt.map { $0 - order.dueAt } }.sorted()
        let first = orders.map(\.dueAt).min() ?? 0
        let last = answered.compactMap(\.answeredAt).max() ?? first
        let throughput = last > first ? Double(answered.count) / (last - first) : 0
        var violations = audit.violations(accepted: options.orders, revenueMatches: revenueMatches)
        if accepted < options.orders { violations.append("\(options.orders - accepted) order(s) never answered") }
        let summary = audit.summary(accepted: options.orders, revenueMatches: revenueMatches)
        func ms(_ seconds: Double?) -> String { seconds.map { String(format: "%.0f ms", $0 * 1000) } ?? "-" }
        let rows: [(String, String, String)] = [
            (
                "orders placed", "\(options.orders)",
                "at \(String(format: "%.0f", options.rate))/s from \(options.clients) clients"
            ),
            ("confirmed", "\(audit.confirmed)", ""),
            (
                "declined (failed cleanly)", "\(audit.declined)",
                "reservation released: \(audit.unreleasedDeclines == 0 ? "all" : "NOT \(audit.unreleasedDeclines)")"
            ),
            ("ghost charges", "\(audit.ghost)", "must be 0"),
            ("double charges", "\(audit.double)", "must be 0"),
            ("stranded reservations", "\(audit.stranded)", "must be 0"),
            (
                "confirmation emails", "\(audit.emails)/\(audit.confirmed)",
                "\(audit.requests["email.down"] ?? 0) refused while down; \(resumed) paused and resumed in bulk"
            ),
            ("loyalty points", "\(audit.points)/\(audit.confirmed)", ""),
            (
                "dashboard revenue", revenueMatches ? "ok" : "MISMATCH",
                String(format: "ledger %.2f USD", Double(audit.confirmedTotal) / 100)
            ),
            (
                "charges that timed out after charging", "\(audit.requests["payments.hung"] ?? 0)",
                "retried with the same idempotency key"
            ),
            ("kills (SIGKILL)", "\(kills.count)", "longest restart \(ms(kills.map(\.restart).max()))"),
            ("orders/s", String(format: "%.1f", throughput), ""),
            (
                "order latency p50 / p99", "\(ms(percentile(latencies, 0.5))) / \(ms(percentile(latencies, 0.99)))",
                "from due to answer, restarts included"
            ),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        let valueWidth = rows.map(\.1.count).max() ?? 0
        var table = rows.map { row in
            let line =
                row.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                + row.1.padding(toLength: valueWidth, withPad: " ", startingAt: 0) + "  " + row.2
            return String(line.reversed().drop { $0 == " " }.reversed())
        }.joined(separator: "\n")
        if !violations.isEmpty { table += "\n\nVIOLATIONS:\n" + violations.map { "- \($0)" }.joined(separator: "\n") }
        let html = Self.html(
            orders: answered,
            kills: kills.map(\.at),
            outage: outage,
            table: table,
            summary: summary
        )
        return ChaosOutcome(table: table, summary: summary, violations: violations, html: html)
    }

    func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let index = min(sorted.count - 1, max(0, Int((Double(sorted.count) * p).rounded(.up)) - 1))
        return sorted[index]
    }

    /// A page with the table and two inline SVG charts (orders answered per second, and the p99 latency of each
    /// second's answers), kills as red lines and the email outage shaded.
    static func html(
        orders: [PlacedOrder],
        kills: [Double],
        outage: (start: Double, end: Double)?,
        table: String,
        summary: String
    ) -> String {
        let answers = orders.compactMap { order in order.answeredAt.map { (at: $0, latency: $0 - order.dueAt) } }
        let end = max(1, Int((answers.map(\.at).max() ?? 1).rounded(.up)))
        var perSecond = [Int](repeating: 0, count: end + 1)
        var latencies = [[Double]](repeating: [], count: end + 1)
        for answer in answers {
            let second = min(end, max(0, Int(answer.at)))
            perSecond[second] += 1
            latencies[second].append(answer.latency)
        }
        let p99 = latencies.map { values -> Double in
            let sorted = values.sorted()
            guard !sorted.isEmpty else { return 0 }
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
        }
        func chart(_ title: String, _ values: [Double], unit: String) -> String {
            let width = 900.0
            let height = 220.0
            let top = max(values.max() ?? 1, 0.001)
            let x = { (second: Double) in 40 + second / Double(end) * (width - 50) }
            let y = { (value: Double) in height - 20 - value / top * (height - 40) }
            let points = values.enumerated().map { String(format: "%.1f,%.1f", x(Double($0.offset)), y($0.element)) }
            var svg =
                ##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(Int(width))" height="\##(Int(height))" role="img" aria-label="\##(title)">"##
            if let outage {
                svg += String(
                    format:
                        ##"<rect x="%.1f" y="10" width="%.1f" height="%.1f" fill="#fde2b8"><title>email outage</title></rect>"##,
                    x(outage.start),
                    max(1, x(min(outage.end, Double(end))) - x(outage.start)),
                    height - 30
                )
            }
            for kill in kills {
                svg += String(
                    format:
                        ##"<line x1="%.1f" x2="%.1f" y1="10" y2="%.1f" stroke="#d33" stroke-dasharray="4 3"><title>SIGKILL</title></line>"##,
                    x(kill),
                    x(kill),
                    height - 20
                )
            }
            svg +=
                ##"<polyline fill="none" stroke="#1f5fbf" stroke-width="1.5" points="\##(points.joined(separator: " "))"/>"##
            svg +=
                ##"<line x1="40" x2="\##(Int(width) - 10)" y1="\##(Int(height) - 20)" y2="\##(Int(height) - 20)" stroke="#888"/>"##
            svg += String(format: ##"<text x="4" y="16" font-size="11">%.0f"##, top) + " \(unit)</text>"
            svg += ##"<text x="\##(Int(width) - 60)" y="\##(Int(height) - 4)" font-size="11">\##(end) s</text>"##
            svg += "<text x=\"44\" y=\"24\" font-size=\"13\">\(title)</text></svg>"
            return svg
        }
        let escaped = table.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        return """
            <!doctype html>
            <html><head><meta charset="utf-8"><title>Order platform chaos run</title>
            <style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}pre{background:#f6f6f6;padding:1em}</style>
            </head><body>
            <h1>Order platform chaos run</h1>
            <pre>\(escaped)</pre>
            <p><code>\(summary)</code></p>
            <p>Red dashed lines: SIGKILL of the platform. Shaded: the email service down.</p>
            \(chart("orders answered per second", perSecond.map(Double.init), unit: "/s"))
            \(chart("p99 order latency per second", p99.map { $0 * 1000 }, unit: "ms"))
            </body></html>
            """
    }
}
