import ArgumentParser
import Foundation
import KeelProtocol
import KeelServer
import NIOHTTP1

struct Invocations: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect, cancel, kill, pause, purge and resume invocations.",
        subcommands: [Describe.self, Cancel.self, Kill.self, Pause.self, Purge.self, Resume.self]
    )

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show an invocation's status, retries, last failure and result."
        )
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The invocation id, inv_1…") var id: String

        func run() async throws {
            printJSON(try await admin.client.send(.GET, "/invocations/\(id)"))
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Cancel cooperatively: the handler gets a terminal error (409) at its next await and runs its compensations."
        )
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The invocation id, inv_1…") var id: String

        func run() async throws {
            _ = try await admin.client.send(.PATCH, "/invocations/\(id)/cancel")
            print("cancel requested for \(id)")
        }
    }

    struct Kill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "End at once with 409 killed, without running compensations; the invocations it called are killed too."
        )
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The invocation id, inv_1…") var id: String

        func run() async throws {
            _ = try await admin.client.send(.PATCH, "/invocations/\(id)/kill")
            print("killed \(id)")
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Park a running or suspended invocation until it is resumed or killed (its current attempt is abandoned)."
        )
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The invocation id, inv_1…") var id: String
        @Option(
            help:
                "Pause it in this data directory while no server runs on it (when handlers keep the server too busy to answer)."
        )
        var dataDir: String?

        func run() async throws {
            if let dataDir {
                guard let invocation = InvocationID(id) else {
                    throw ValidationError("'\(id)' is not an invocation id (inv_1…)")
                }
                try await OfflineOperations.pause(invocation, dataDirectory: dataDir)
                print("paused \(id) in \(dataDir); the next start does not run it")
                return
            }
            _ = try await admin.client.send(.PATCH, "/invocations/\(id)/pause")
            print("paused \(id)")
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Forget a completed invocation and its output.")
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The invocation id, inv_1…") var id: String

        func run() async throws {
            _ = try await admin.client.send(.PATCH, "/invocations/\(id)/purge")
            print("purged \(id)")
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Resume a paused invocation with a fresh retry budget."
        )
        @OptionGroup var admin: AdminOptions
        @Argument(help: "The invocation id, inv_1…") var id: String
        @Option(help: "Run it on this deployment from now on (dp_1…), e.g. one with the fix.") var deployment: String?

        func run() async throws {
            let query = deployment.map { "?deployment=\($0)" } ?? ""
            _ = try await admin.client.send(.PATCH, "/invocations/\(id)/resume\(query)")
            print("resumed \(id)")
        }
    }
}
