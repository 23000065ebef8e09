import ArgumentParser
import Foundation
import KeelAnalytics

/// `keel analytics push|status`: deploys a Tinybird project folder to a running server.
struct Analytics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Deploy and inspect analytics: Tinybird datasources and pipes served at /v0/ on the ingress.",
        subcommands: [Push.self, Status.self]
    )

    struct Push: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Deploy a project folder (datasources/*.datasource, pipes/*.pipe) to a running server: all of it is checked first, and nothing changes when a file is refused."
        )

        @OptionGroup var admin: AdminOptions

        @Argument(help: "The project folder, e.g. ./analytics")
        var directory: String

        func run() async throws {
            let files: [String: String]
            do {
                files = try AnalyticsCatalog.files(inDirectory: directory)
            } catch {
                throw ValidationError("\(directory)/\(error)")
            }
            guard !files.isEmpty else {
                throw ValidationError(
                    "\(directory) holds no datasources/*.datasource or pipes/*.pipe; nothing to push"
                )
            }
            // Checked here too, so that a file's error names it before anything is sent.
            do {
                _ = try AnalyticsCatalog.read(files: files)
            } catch {
                throw ValidationError("\(directory)/\(error)")
            }
            printJSON(try await admin.client.send(.POST, "/analytics/deploy", body: ["files": files]))
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the engine and the deployed datasources and pipes."
        )
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            printJSON(try await admin.client.send(.GET, "/analytics"))
        }
    }
}
