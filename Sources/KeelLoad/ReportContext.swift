import Foundation

/// What is known before the run starts: printed first, and repeated in the JSON line.
struct ReportContext: Sendable {
    var command: String
    var machine: MachineFacts
    var labels: [LoadConfiguration.Label]
}

extension ReportContext {
    /// The lines printed before the run: the exact command, the machine, the labels and what will be sent.
    func text(_ configuration: LoadConfiguration) -> String {
        var lines = ["command:   \(command)", "machine:   \(machine.summary)"]
        if !labels.isEmpty {
            lines.append("labels:    " + labels.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        let body = configuration.body.isEmpty ? "no body" : "body \(configuration.body)"
        let warmup =
            configuration.warmup > .zero ? " after \(LoadConfiguration.format(configuration.warmup)) warmup" : ""
        lines.append(
            "load:      \(configuration.concurrency) \(configuration.concurrency == 1 ? "client" : "clients"), \(configuration.method) \(configuration.targets.map(\.url).joined(separator: " ")), \(body), "
                + "\(configuration.extent)\(warmup), timeout \(LoadConfiguration.format(configuration.timeout))"
        )
        return lines.joined(separator: "\n")
    }
}
