/// The head of one attempt: which handler to run and with which negotiated protocol version.
public struct AttemptHead: Hashable, Sendable {
    public var service: String
    public var handler: String
    /// The object or workflow key of a keyed target (signed as `sub` in request identity tokens).
    public var key: String?
    /// The service protocol version both sides speak for this attempt (5 or 6).
    public var protocolVersion: Int
    /// Extra request headers, as an HTTP transport would carry them.
    public var headers: [String: String]
    /// The handler may go on with a `ctx.run` result before it is stored (embedded attempts only).
    ///
    /// The SDK then hands in the proposal marked ``AttemptOutput/Entry/isSpeculative`` (beside the frame, never
    /// on the wire) and continues at once; the engine writes the result with the attempt's next commit, so a
    /// 1-step invocation takes one fsync, not two. Nothing leaves the engine before it is durable: the SDK runs
    /// no further step body until every such result is stored, and the engine stores pending results before
    /// any command that reaches another invocation, a timer or the caller (`SpeculativeSteps` in the SDK,
    /// `StepSpeculation` in the engine).
    public var speculativeSteps: Bool

    public init(
        service: String,
        handler: String,
        key: String? = nil,
        protocolVersion: Int,
        headers: [String: String] = [:],
        speculativeSteps: Bool = false
    ) {
        self.service = service
        self.handler = handler
        self.key = key
        self.protocolVersion = protocolVersion
        self.headers = headers
        self.speculativeSteps = speculativeSteps
    }
}

/// Something the engine can run attempts on: services in the same process, or a deployment over HTTP.
///
/// The engine drives every transport with the same frames, so it keeps one implementation of the protocol.
public protocol AttemptTransport: Sendable {
    /// Runs one attempt to its end.
    ///
    /// Reads the runtime's frames (`StartMessage`, the replayed journal, then live notifications) from `input`
    /// (as a stream, or synchronously as they come: see `AttemptInput`) and writes the SDK's frames to `output`, returning after the terminal frame (`End`, `Suspension` or
    /// `Error`) was written. A finished `input` means the runtime will send nothing more (request/response
    /// mode): the SDK then suspends instead of waiting. Cancelling the calling task aborts the attempt.
    func handle(_ head: AttemptHead, input: AttemptInput, output: AttemptOutput) async
}

/// Services that run in the same process as the engine.
///
/// The engine drives them with exactly the frames it would send over HTTP: this is the only place the
/// runtime and the SDK meet, so both keep a single implementation of the protocol.
public protocol EmbeddedEndpoint: AttemptTransport {
    /// What `GET /discover` would answer.
    var manifest: EndpointManifest { get }
}
