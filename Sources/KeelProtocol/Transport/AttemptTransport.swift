/// The head of one attempt: which handler to run and with which negotiated protocol version.
public struct AttemptHead: Hashable, Sendable {
    public var service: String
    public var handler: String
    /// The service protocol version both sides speak for this attempt (5 or 6).
    public var protocolVersion: Int
    /// Extra request headers, as an HTTP transport would carry them.
    public var headers: [String: String]

    public init(service: String, handler: String, protocolVersion: Int, headers: [String: String] = [:]) {
        self.service = service
        self.handler = handler
        self.protocolVersion = protocolVersion
        self.headers = headers
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
