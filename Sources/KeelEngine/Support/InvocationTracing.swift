import Foundation
import KeelCore
import KeelProtocol
import Tracing

/// The spans Keel reports for invocations, in the shape of Restate 1.7's: short spans, each exported when it
/// ends, so that a process killed mid-invocation loses no span that a later one refers to.
///
/// - `invocation-start {target}`: when the invocation is accepted. Its parent is the caller's: the ingress
///   request's W3C `traceparent`, the calling handler's attempt, or none (a new trace, linked to the sending
///   attempt for one-way sends). Its context is stored with the invocation, as the `traceparent` header of the
///   input (so handlers see it too): every later span of the invocation, after any restart, is its child.
/// - `invocation-attempt {target}`: one per attempt, with the handler's commands as events; the endpoint gets its
///   context as `traceparent`, so the SDK's spans nest under it. Status error when the attempt failed.
/// - `invocation {target}`: from the invocation's creation to its completion, reported when it completes, with
///   the result (status error on a failure).
struct InvocationTracing: Sendable {
    let tracer: any Tracer

    /// Where a new invocation's trace comes from.
    enum Origin {
        /// The request's own `traceparent` header (the ingress, events, schedules); a missing or malformed one
        /// starts a new trace.
        case requestHeaders
        /// A call from a handler: a child of the calling attempt.
        case call(from: ServiceContext?)
        /// A one-way send from a handler: a new trace, linked to the sending attempt.
        case send(from: ServiceContext?)
    }

    /// Reports the invocation's start and returns `headers` with its trace context in place of the caller's.
    func started(
        _ id: InvocationID,
        target: InvocationTarget,
        headers: [(String, String)],
        origin: Origin
    ) -> [(String, String)] {
        var parent = ServiceContext.topLevel
        var link: ServiceContext?
        switch origin {
        case .requestHeaders:
            tracer.extract(headers, into: &parent, using: HeaderExtractor())
        case .call(let caller):
            if let caller { parent = caller }
        case .send(let sender):
            link = sender
        }
        let span = tracer.startSpan("invocation-start \(target)", context: parent, ofKind: .server)
        span.attributes = Self.attributes(id, target)
        if let link { span.addLink(SpanLink(context: link, attributes: [:])) }
        var carrier = headers.filter { !Self.isTraceHeader($0.0) }
        tracer.inject(span.context, into: &carrier, using: HeaderInjector())
        span.end()
        return carrier
    }

    /// The invocation's stored trace context, from its input entry's headers (`ServiceContext.topLevel` when it
    /// has none).
    func context(ofInput entry: JournalEntry?) -> ServiceContext {
        var context = ServiceContext.topLevel
        guard let entry, entry.type == MessageType.input.rawValue,
            let input = try? PBInputCommandMessage(serializedBytes: entry.payload)
        else { return context }
        tracer.extract(input.headers.map { ($0.key, $0.value) }, into: &context, using: HeaderExtractor())
        return context
    }

    /// Starts an attempt's span; `headers` gets the `traceparent` the endpoint receives.
    func attempt(
        _ id: InvocationID,
        target: InvocationTarget,
        generation: UInt64,
        deployment: String?,
        parent: ServiceContext,
        headers: inout [String: String]
    ) -> AttemptTrace {
        let span = tracer.startSpan("invocation-attempt \(target)", context: parent, ofKind: .client)
        var attributes = Self.attributes(id, target)
        attributes["keel.attempt.generation"] = Int64(clamping: generation)
        if let deployment { attributes["restate.deployment.id"] = deployment }
        span.attributes = attributes
        var carrier: [(String, String)] = []
        tracer.inject(span.context, into: &carrier, using: HeaderInjector())
        for (name, value) in carrier { headers[name] = value }
        return AttemptTrace(span: span)
    }

    /// Reports the invocation from its creation (`createdAt`, ms since the epoch) to now, with its result.
    func completed(
        _ id: InvocationID,
        target: InvocationTarget,
        createdAt: Int64,
        result: InvocationResult,
        parent: ServiceContext
    ) {
        let start = DefaultTracerClock.Timestamp(
            nanosecondsSinceEpoch: UInt64(clamping: createdAt).multipliedReportingOverflow(by: 1_000_000).partialValue
        )
        let span = tracer.startSpan("invocation \(target)", context: parent, ofKind: .internal, at: start)
        var attributes = Self.attributes(id, target)
        switch result {
        case .success:
            attributes["restate.invocation.result"] = "success"
        case .failure(let failure):
            attributes["restate.invocation.result"] = "failure"
            attributes["restate.invocation.error.code"] = Int64(failure.code)
            span.setStatus(SpanStatus(code: .error, message: failure.message))
        }
        span.attributes = attributes
        span.end()
    }

    static func attributes(_ id: InvocationID, _ target: InvocationTarget) -> SpanAttributes {
        var attributes = SpanAttributes()
        attributes["restate.invocation.id"] = id.description
        attributes["restate.invocation.target"] = target.description
        attributes["rpc.service"] = target.service
        attributes["rpc.method"] = target.handler
        return attributes
    }

    static func isTraceHeader(_ name: String) -> Bool {
        name.caseInsensitiveCompare("traceparent") == .orderedSame
            || name.caseInsensitiveCompare("tracestate") == .orderedSame
    }
}

/// An attempt's span, owned by its attempt in the partition. It ends once: with the attempt's outcome, or
/// (when the attempt is dropped some other way: a kill, a shutdown) when it is released.
final class AttemptTrace {
    let span: any Span
    private var ended = false

    init(span: any Span) {
        self.span = span
    }

    /// A command the handler sent (Restate's `new_command` event).
    func command(_ type: MessageType, index: Int) {
        guard !ended else { return }
        span.addEvent(
            SpanEvent(
                name: "restate.invocation.lifecycle.new_command",
                attributes: [
                    "restate.journal.command.type": .string("\(type)"),
                    "restate.journal.command.index": .int64(Int64(clamping: index)),
                ]
            )
        )
    }

    func suspended() {
        guard !ended else { return }
        span.addEvent(SpanEvent(name: "restate.invocation.lifecycle.suspended"))
        end()
    }

    /// Ends the span; a failed attempt's status is an error with its reason.
    func end(failure: String? = nil) {
        guard !ended else { return }
        ended = true
        if let failure { span.setStatus(SpanStatus(code: .error, message: failure)) }
        span.end()
    }

    deinit {
        if !ended { span.end() }
    }
}

/// Reads W3C headers from a header list, whatever the names' case.
struct HeaderExtractor: Extractor {
    func extract(key: String, from carrier: [(String, String)]) -> String? {
        carrier.first { $0.0.caseInsensitiveCompare(key) == .orderedSame }?.1
    }
}

/// Writes W3C headers into a header list, replacing any of the same name.
struct HeaderInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [(String, String)]) {
        carrier.removeAll { $0.0.caseInsensitiveCompare(key) == .orderedSame }
        carrier.append((key, value))
    }
}
