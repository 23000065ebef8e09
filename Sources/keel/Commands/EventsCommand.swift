import ArgumentParser
import Foundation

/// `keel subscriptions …`: which handlers events start (Restate's subscription shape).
struct Subscriptions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Create, list and delete event subscriptions (event://default/{pattern} → service://{service}/{handler}).",
        subcommands: [List.self, Create.self, Delete.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List subscriptions.")
        @OptionGroup var admin: AdminOptions

        func run() async throws {
            printJSON(try await admin.client.send(.GET, "/subscriptions"))
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Subscribe a handler to events, e.g. event://default/order:* service://PostOrder/confirm."
        )
        @OptionGroup var admin: AdminOptions

        @Argument(help: "event://default/{pattern}; * matches any run of characters.")
        var source: String

        @Argument(help: "service://{service}/{handler}")
        var sink: String

        @Option(help: "For object and workflow sinks: $key (the event's key) or a JSON path into its data, $.userId.")
        var key: String?

        func run() async throws {
            var body: [String: Any] = ["source": source, "sink": sink]
            if let key { body["options"] = ["key": key] }
            printJSON(try await admin.client.send(.POST, "/subscriptions", body: body))
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a subscription; events stop reaching its sink."
        )
        @OptionGroup var admin: AdminOptions

        @Argument(help: "The subscription id, sub_…")
        var id: String

        func run() async throws {
            _ = try await admin.client.send(.DELETE, "/subscriptions/\(id)")
            print("deleted \(id)")
        }
    }
}

/// `keel events …`: publish an event, or look at one.
struct Events: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish events to the subscriptions that match them, and describe published events.",
        subcommands: [Publish.self, Describe.self]
    )

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish an event: each matching subscription starts its handler once (per event id)."
        )
        @Option(name: .customLong("ingress-url"), help: "Ingress of the server (env KEEL_INGRESS_URL).")
        var ingressURL = ProcessInfo.processInfo.environment["KEEL_INGRESS_URL"] ?? "http://127.0.0.1:8080"

        @Argument(help: "The event's name, e.g. order:completed")
        var name: String

        @Argument(help: "The event's data, JSON (the handlers' input).")
        var data = "{}"

        @Option(help: "The key object sinks get unless their subscription reads one from the data.")
        var key: String?

        @Option(help: "The event's id: publishing it again starts nothing new.")
        var id: String?

        func run() async throws {
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(data.utf8), options: [.fragmentsAllowed])
            else { throw ValidationError("the data '\(data)' is not JSON") }
            var body: [String: Any] = ["name": name, "data": parsed]
            if let key { body["key"] = key }
            if let id { body["id"] = id }
            let environment = ProcessInfo.processInfo.environment
            let ingress = AdminClient(
                baseURL: ingressURL.hasSuffix("/") ? String(ingressURL.dropLast()) : ingressURL,
                // `--ingress-token-file`'s token, when it differs from the admin's.
                token: environment["KEEL_INGRESS_TOKEN"] ?? environment["KEEL_AUTH_TOKEN"]
            )
            printJSON(try await ingress.send(.POST, "/restate/events", body: body))
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an event, its data and its deliveries.")
        @OptionGroup var admin: AdminOptions

        @Argument(help: "The event's id.")
        var id: String

        func run() async throws {
            let path = id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? id
            printJSON(try await admin.client.send(.GET, "/events/\(path)"))
        }
    }
}
