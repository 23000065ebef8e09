import ArgumentParser
import Foundation
import NIOHTTP1

/// Where the admin API is, for every operator command.
struct AdminOptions: ParsableArguments {
    @Option(name: .customLong("admin-url"), help: "Admin API of the server (env KEEL_ADMIN_URL).")
    var adminURL = ProcessInfo.processInfo.environment["KEEL_ADMIN_URL"] ?? "http://127.0.0.1:9070"

    var client: AdminClient { AdminClient(baseURL: adminURL.hasSuffix("/") ? String(adminURL.dropLast()) : adminURL) }
}

struct Deployments: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Register, list and remove service deployments (endpoints that serve services over HTTP).",
        subcommands: [Register.self, List.self, Remove.self]
    )

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Discover an endpoint's services and register them.")

        @OptionGroup var admin: AdminOptions

        @Argument(help: "The endpoint's URI, e.g. http://localhost:9080")
        var uri: String

        @Flag(name: .customLong("use-http1.1"), help: "Talk HTTP/1.1 (request/response) instead of HTTP/2.")
        var useHTTP11 = false

        @Flag(help: "Replace an existing deployment of the same URI.")
        var force = false

        @Option(name: .customLong("header"), help: "An extra header sent to the endpoint, name:value (repeatable).")
        var headers: [String] = []

        func run() async throws {
            var additional: [String: String] = [:]
            for header in headers {
                guard let colon = header.firstIndex(of: ":") else {
                    throw ValidationError("--header '\(header)' is not name:value")
                }
                additional[String(header[..<colon]).trimmingCharacters(in: .whitespaces)] = String(
                    header[header.index(after: colon)...]
                ).trimmingCharacters(in: .whitespaces)
            }
            let body: [String: Any] = [
                "uri": uri, "use_http_11": useHTTP11, "force": force, "additional_headers": additional,
            ]
            printJSON(try await admin.client.send(.POST, "/deployments", body: body))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered deployments.")
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            printJSON(try await admin.client.send(.GET, "/deployments"))
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop routing new invocations to a deployment (pinned ones finish there)."
        )
        @OptionGroup var admin: AdminOptions

        @Argument(help: "The deployment id, dp_1…")
        var id: String

        func run() async throws {
            _ = try await admin.client.send(.DELETE, "/deployments/\(id)")
            print("removed \(id)")
        }
    }
}

struct Services: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and describe registered services.",
        subcommands: [List.self, Describe.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List services with their kind and deployment.")
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            let json = try await admin.client.send(.GET, "/services") as? [String: Any]
            for service in json?["services"] as? [[String: Any]] ?? [] {
                let name = service["name"] as? String ?? "?"
                let kind = service["ty"] as? String ?? "?"
                let deployment = service["deployment_id"] as? String ?? "?"
                print(
                    "\(name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(kind.padding(toLength: 14, withPad: " ", startingAt: 0)) \(deployment)"
                )
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one service and its handlers.")
        @OptionGroup var admin: AdminOptions

        @Argument(help: "The service name.")
        var name: String

        func run() async throws {
            printJSON(try await admin.client.send(.GET, "/services/\(name)"))
        }
    }
}
