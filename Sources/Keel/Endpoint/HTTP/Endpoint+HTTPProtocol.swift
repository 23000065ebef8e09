import KeelProtocol

extension Endpoint {
    /// How an endpoint talks HTTP to the server that calls it.
    ///
    /// Keel and Restate reach an `http://` deployment over cleartext HTTP/2 with prior knowledge unless it is
    /// registered with `use_http_11`; serve the protocol the deployment is registered with.
    public enum HTTPProtocol: String, Hashable, Sendable, CustomStringConvertible {
        /// Cleartext HTTP/2 with prior knowledge (h2c). The manifest announces `BIDI_STREAM`: the server keeps
        /// the request open and pushes results (a step's stored outcome, …) while the handler runs.
        case http2
        /// HTTP/1.1. The manifest announces `REQUEST_RESPONSE`: the server sends the whole journal and closes
        /// the request, and the handler suspends whenever it needs something the journal does not hold yet.
        case http1

        /// The protocol mode discovery announces for this transport.
        public var protocolMode: EndpointManifest.ProtocolMode {
            switch self {
            case .http2: .bidiStream
            case .http1: .requestResponse
            }
        }

        public var description: String {
            switch self {
            case .http2: "HTTP/2 (h2c, prior knowledge)"
            case .http1: "HTTP/1.1"
            }
        }
    }
}
