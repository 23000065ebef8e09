import ArgumentParser
import KeelServer

@main
struct KeelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keel",
        abstract: "Keel: durable execution for Swift, speaking Restate's protocols.",
        version: KeelVersion.current,
        subcommands: [
            Serve.self, EndpointCommand.self, Deployments.self, Services.self, Invocations.self, Subscriptions.self,
            Events.self, Schedules.self, Analytics.self, SQL.self, State.self, Cluster.self,
        ],
        defaultSubcommand: nil
    )
}
