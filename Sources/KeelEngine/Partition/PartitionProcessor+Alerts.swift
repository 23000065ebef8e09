import Foundation
import KeelCore
import KeelProtocol
import KeelStore

/// `onFailure` (handler metadata `keel.onFailure`): the sink is invoked once with `{invocationId, target, status,
/// error}` when an invocation fails terminally, is killed, or pauses by itself. The alert is an event stored in
/// the transaction that stores the failure or the pause, with its one delivery planned: it is delivered after
/// the commit, and again at the next start if a crash came between (the events' outbox), under an idempotency
/// key derived from the invocation, so the sink runs once per failure.
extension PartitionProcessor {
    /// The prefix of alerts' idempotency keys (and event ids); an alert's own failure raises none.
    static let alertPrefix = "keel-on-failure/"

    /// The alert for `invocation` ending with `failure` (or pausing with it), or nil when its handler declares
    /// no `onFailure` or the invocation is an alert itself.
    func failureAlert(for invocation: ActiveInvocation, failure: Failure, paused: Bool) -> EventRecord? {
        let record = invocation.record
        guard let sink = settings(of: invocation).onFailure,
            record.idempotencyKey?.hasPrefix(Self.alertPrefix) != true
        else { return nil }
        let key = Self.alertPrefix + "\(record.id)" + (paused ? "/paused/\(record.retryCount)" : "")
        let resolved: ServiceRegistry.Resolved
        do {
            resolved = try registry.resolve(InvocationTarget(service: sink.service, handler: sink.handler, key: nil))
        } catch {
            logger.warning(
                "the onFailure sink cannot be invoked",
                metadata: [
                    "invocation": "\(record.id)", "sink": "\(sink.service)/\(sink.handler)", "error": "\(error)",
                ]
            )
            return nil
        }
        let status = paused ? "paused" : failure.message == "killed" ? "killed" : "failed"
        let body: [String: Any] = [
            "invocationId": "\(record.id)",
            "target": "\(record.target)",
            "status": status,
            "error": ["code": Int(failure.code), "message": failure.message],
        ]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data("{}".utf8)
        let now = clock.now()
        return EventRecord(
            id: key,
            name: "keel:invocation.\(status)",
            key: nil,
            data: data,
            metadata: nil,
            deliveries: [
                EventDelivery(
                    subscription: "onFailure",
                    service: sink.service,
                    handler: sink.handler,
                    key: nil,
                    invocationID: IdentityDerivation.invocationID(for: resolved, idempotencyKey: key).description,
                    idempotencyKey: key,
                    undeliverable: nil
                )
            ],
            delivered: false,
            createdAt: now,
            expiresAt: now.saturatingAdding(configuration.eventRetention.saturatingMilliseconds)
        )
    }

    /// Starts an alert's invocation once the transaction that stored it is durable.
    func deliverAlert(_ alert: EventRecord) {
        let writer = self.writer
        let router = self.router
        spawn {
            guard (try? await writer.commit([], for: nil)) != nil else { return }
            await router.deliver(alert)
        }
    }
}
