import Foundation
import KeelCore
import KeelProtocol
import KeelStore
import Tracing

/// What a partition keeps in memory about an unfinished invocation besides its lifecycle (which
/// `PartitionState` holds): its record, cached journal and live attempt. `record.status` is the status it was
/// admitted or recovered with; the current one is the lifecycle's.
///
/// A class, owned by its partition actor and never handed outside it: the per-frame paths look an invocation
/// up and change it in place. As a struct in the dictionary, every `active[id]?.field = …` went through the
/// dictionary's modify coroutine, whose frame (holding a whole optional copy of this) was allocated on the
/// heap: about 150 of the 600 allocations of a 3-step invocation.
final class ActiveInvocation {
    struct Attempt {
        var generation: UInt64
        var input: AttemptInput
        /// The SDK's frames as the relay reads them: finishing it ends the attempt (the abort timeout).
        var output: AttemptOutput
        /// How many journal entries the attempt was started with.
        var replayed: Int
        /// When a frame last went either way (ms), for the inactivity timeout.
        var lastActivity: Int64
        /// When the inactivity timeout closed the request stream (ms); the abort timeout runs from there.
        var inputClosedAt: Int64?
        /// The abort timeout ended the attempt.
        var isAborted = false
        /// The step results the handler went on with before they were stored, and what frames need of them.
        var speculation: StepSpeculation
        /// The deployment of an attempt on a remote endpoint (its endpoint errors are counted against it); nil
        /// for an embedded one.
        var remoteDeployment: String?
        /// When the attempt's latest `Run` command came in, until its proposal does (`keel_step_duration_seconds`).
        var stepStartedAt: ContinuousClock.Instant?
        /// The attempt's span, when tracing is on.
        var trace: AttemptTrace?

        /// `speculative`: the SDK may go on with step results before they are stored (an embedded endpoint).
        init(
            generation: UInt64,
            input: AttemptInput,
            output: AttemptOutput,
            replayed: Int,
            lastActivity: Int64,
            speculative: Bool,
            remoteDeployment: String? = nil
        ) {
            self.generation = generation
            self.input = input
            self.output = output
            self.replayed = replayed
            self.lastActivity = lastActivity
            self.speculation = StepSpeculation(allowed: speculative)
            self.remoteDeployment = remoteDeployment
        }
    }

    var record: InvocationRecord
    /// The cached journal; nil until loaded (after a restart, or after a failed write).
    var journal: [JournalEntry]?
    /// The highest journal index the cached journal was loaded with from the store (0 when it was built in
    /// memory). An entry another partition appended with an index up to this is in the cache already.
    var loadedThrough: Int64 = 0
    /// Notifications stored while the journal was not cached; merged in when it is loaded.
    var arrivals: [(index: Int64, entry: JournalEntry)] = []
    var attempt: Attempt?
    /// For an exclusive object handler: the state its current attempt started with, plus the writes it
    /// made since (see `ObjectStateCache`). Nil for every other kind.
    var attemptState: ObjectStateCache.State?
    /// When the journal last grew (ms), for `duration_since_last_stored_entry`.
    var lastStoredAt: Int64
    /// The result stored by the `Output` command, applied at `End`.
    var output: InvocationResult?
    /// The result being stored while its completion commits (`PartitionState` knows it is completing), so a
    /// caller that subscribes meanwhile gets the result directly.
    var completingWith: InvocationResult?
    /// The invocation's trace context (from its input's `traceparent`), once read; tracing only.
    var traceContext: ServiceContext?

    init(record: InvocationRecord, journal: [JournalEntry]?) {
        self.record = record
        self.journal = journal
        self.lastStoredAt = record.modifiedAt
    }

    var id: InvocationID { record.id }

    /// Settings from the pinned deployment's manifest; resolved at the first failure or completion.
    var settings: HandlerSettings?

    /// Exclusive handlers hold their object's lock from the moment they leave the inbox until they complete.
    var lockedObject: ObjectAddress? {
        guard record.handlerKind?.takesLock == true else { return nil }
        return record.target.object
    }
}

/// What the invoker should do after a frame from the SDK was handled.
enum FrameVerdict: Sendable {
    case proceed
    /// The attempt ended and its outcome is recorded.
    case finished
    /// The attempt ended the invocation with this result, which is stored.
    case completed(InvocationResult)
    /// The attempt failed; retry with backoff (or `nextRetryDelay` when the SDK asked for one).
    case failed(String, nextRetryDelay: Duration?)
}

/// Everything an attempt needs, prepared by the partition.
struct AttemptPlan: Sendable {
    var generation: UInt64
    var head: AttemptHead
    var endpoint: any AttemptTransport
    var input: AttemptInput
    /// The endpoint runs in this process (its traps are this process's crashes).
    var isEmbedded: Bool
    /// The deployment of a remote endpoint (for `keel_endpoint_errors_total`); nil for an embedded one.
    var remoteDeployment: String?
}
