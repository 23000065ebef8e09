import ArgumentParser
import Foundation

/// `keel-load`: N concurrent HTTP clients against an ingress, for a duration or a request count, and the
/// figures that describe the run (throughput, durable steps, latency percentiles, errors, server memory).
@main
struct KeelLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keel-load",
        abstract: "Load a Keel ingress with concurrent keep-alive HTTP clients and print throughput and latency.",
        discussion: """
            Each client is one sequential loop: send, wait for the whole response, send again, over its own \
            keep-alive connection. The run stops by itself after --duration, or after --requests measured \
            requests (capped by --duration, default \(Int(LoadConfiguration.countModeTimeCap.components.seconds)) s). \
            Requests that start during --warmup are not counted. Only loopback targets are accepted unless \
            --allow-remote is given. Exits with 1 when any measured request failed or none succeeded.

            Example: keel-load --url http://127.0.0.1:8080/Bench/run --body '{"steps":3}' --concurrency 64 \
            --duration 10s --warmup 2s --label store=sqlite sync=FULL
            """
    )

    @Option(
        help:
            "The URL every client calls (default http://127.0.0.1:8080/Bench/run). Repeat it to spread the clients over several servers, e.g. the nodes of a cluster: client i calls the i-th URL, modulo their count."
    )
    var url: [String] = []

    @Option(help: "The request body. With a body the default method is POST and content-type application/json.")
    var body = #"{"steps":1}"#

    @Option(help: "The HTTP method (default: POST with a body, GET without).")
    var method: String?

    @Option(help: "Concurrent clients, each its own sequential loop on its own connection.")
    var concurrency = 64

    @Option(help: "Measured requests in total across all clients (stops earlier if the time cap is reached).")
    var requests: Int?

    @Option(help: "How long to measure, e.g. 10s, 500ms, 1m (default 10s; with --requests it is a cap).")
    var duration: TimeSpan?

    @Option(help: "Time to send requests before measuring, e.g. 2s.")
    var warmup = TimeSpan.zero

    @Option(help: "Timeout of one request, connection included.")
    var timeout = TimeSpan(seconds: 30)

    @Option(name: .customLong("header"), help: "An extra request header 'name:value'; repeatable.")
    var headers: [String] = []

    @Option(
        name: .customLong("label"),
        parsing: .upToNextOption,
        help: "Facts to print with the figures, 'key=value' (e.g. --label store=sqlite sync=FULL)."
    )
    var labels: [String] = []

    @Option(
        name: .customLong("server-pid"),
        help: "The server's pid: sample its memory and CPU from /proc during the run."
    )
    var serverPID: Int32?

    @Flag(help: "Print one machine-readable JSON line instead of the text report.")
    var json = false

    @Flag(name: .customLong("allow-remote"), help: "Allow a target that is not loopback (127.0.0.0/8, ::1, localhost).")
    var allowRemote = false

    func run() async throws {
        let configuration = try LoadConfiguration(self)
        let context = ReportContext(
            command: ShellQuoting.commandLine(CommandLine.arguments),
            machine: MachineFacts.current(),
            labels: configuration.labels
        )
        if !json { print(context.text(configuration), terminator: "\n\n") }
        let outcome = try await LoadRun(configuration: configuration).execute()
        let report = LoadReport(context: context, configuration: configuration, outcome: outcome)
        print(json ? try report.jsonLine() : report.text())
        if report.requests.failed > 0 || report.requests.succeeded == 0 { throw ExitCode(1) }
    }
}
