import ArgumentParser
import Foundation
import Logging

/// `--log-level`, shared by the commands that run a server.
struct LoggingOptions: ParsableArguments {
    @Option(
        name: .customLong("log-level"),
        help: "trace, debug, info, notice, warning, error or critical (env KEEL_LOG_LEVEL)."
    )
    var logLevel = ProcessInfo.processInfo.environment["KEEL_LOG_LEVEL"] ?? "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError(
                "--log-level '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical"
            )
        }
    }

    /// Sends every logger to standard error at the chosen level.
    func bootstrap() {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
