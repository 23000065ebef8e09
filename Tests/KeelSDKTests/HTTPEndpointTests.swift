import Foundation
import Hummingbird
import KeelProtocol
import Testing

@testable import Keel

/// The decisions of the HTTP front of an endpoint, without a network: which route a path names, which
/// manifest version a discovery request gets, and what a request body that is not a frame stream leads to.
/// The same behaviour over real HTTP is covered in KeelIntegrationTests (`SwiftEndpointTests`).
@Suite("The endpoint's HTTP front")
struct HTTPEndpointTests {
    @Test(
        "routes are matched on the end of the path, so any mount prefix works",
        arguments: [
            ("/discover", EndpointRoute.discover),
            ("/restate/v1/discover", .discover),
            ("/health", .health),
            ("/mounted/here/health?probe=1", .health),
            ("/invoke/Greeter/greet", .invoke(service: "Greeter", handler: "greet")),
            ("/prefix/invoke/Counter/add", .invoke(service: "Counter", handler: "add")),
            ("/invoke/My%2DService/run", .invoke(service: "My-Service", handler: "run")),
        ]
    )
    func routes(_ path: String, _ route: EndpointRoute) {
        #expect(EndpointRoute(path: path) == route)
    }

    @Test(
        "paths that name no route are refused",
        arguments: ["/", "/invoke", "/invoke/Greeter", "/Greeter/greet", "/discover/more"]
    )
    func unknownRoutes(_ path: String) {
        #expect(EndpointRoute(path: path) == nil)
    }

    @Test("discovery answers the newest manifest version offered among v2…v4")
    func manifestVersionFromAccept() {
        let restate = (1...4).map { EndpointManifest.contentType(version: $0) }.joined(separator: ", ")
        #expect(ManifestNegotiation.version(accept: [restate]) == 4)
        #expect(ManifestNegotiation.version(accept: [EndpointManifest.contentType(version: 3)]) == 3)
        #expect(
            ManifestNegotiation.version(accept: ["application/vnd.restate.endpointmanifest.v2+json", "text/plain"]) == 2
        )
        #expect(
            ManifestNegotiation.version(accept: [
                "application/vnd.restate.endpointmanifest.v9+json, application/vnd.restate.endpointmanifest.v3+json"
            ]) == 3
        )
    }

    @Test("without accept the manifest is v2; an accept without v2…v4 gets none (415)")
    func manifestVersionFallbacks() {
        #expect(ManifestNegotiation.version(accept: []) == 2)
        #expect(ManifestNegotiation.version(accept: [EndpointManifest.contentType(version: 1)]) == nil)
        #expect(ManifestNegotiation.version(accept: ["*/*"]) == nil)
        #expect(ManifestNegotiation.unsupportedMessage(accept: ["*/*"]).contains("v2+json"))
    }

    @Test("HTTP/2 announces BIDI_STREAM, HTTP/1.1 REQUEST_RESPONSE")
    func protocolModes() {
        #expect(Endpoint.HTTPProtocol.http2.protocolMode == .bidiStream)
        #expect(Endpoint.HTTPProtocol.http1.protocolMode == .requestResponse)
    }

    @Test("a request body that ends inside a frame fails the attempt with ErrorMessage 571")
    func truncatedBody() async throws {
        let whole = Frame.encode([Frame(type: MessageType.start.rawValue, payload: Data([1, 2, 3]))])
        let (inputs, outputs) = await Self.readFrames(from: whole.dropLast())
        #expect(inputs.isEmpty)
        #expect(outputs.map(\.messageType) == [.error])
        #expect(try outputs.first?.decode(PBErrorMessage.self).code == 571)
    }

    @Test("a frame announcing more than the size limit fails the attempt with ErrorMessage 571")
    func oversizedFrame() async throws {
        var header = Data(count: Frame.headerLength)
        header[4] = 0xFF  // length 0xFF00_0000: far above the 32 MiB limit
        let (inputs, outputs) = await Self.readFrames(from: header)
        #expect(inputs.isEmpty)
        #expect(try outputs.first?.decode(PBErrorMessage.self).code == 571)
    }

    @Test("frames split across body chunks reach the endpoint whole, in order")
    func framesAcrossChunks() async {
        let frames = [
            Frame(type: MessageType.start.rawValue, payload: Data(repeating: 7, count: 40)),
            Frame(type: MessageType.input.rawValue, payload: Data("\"World\"".utf8)),
        ]
        let (inputs, outputs) = await Self.readFrames(from: Frame.encode(frames), chunkSize: 5)
        #expect(inputs == frames)
        #expect(outputs.isEmpty)
    }

    /// Runs the request-body reader over `bytes` cut into chunks; returns what it fed the endpoint and what it
    /// wrote to the response itself.
    private static func readFrames(
        from bytes: Data,
        chunkSize: Int = 1 << 20
    ) async -> (input: [Frame], output: [Frame]) {
        let all = [UInt8](bytes)
        let chunks = stride(from: 0, to: all.count, by: chunkSize).map { offset in
            ByteBuffer(bytes: all[offset..<min(offset + chunkSize, all.count)])
        }
        let body = RequestBody(
            asyncSequence: AsyncStream { continuation in
                for chunk in chunks { continuation.yield(chunk) }
                continuation.finish()
            }
        )
        let input = AttemptInput()
        let outputSink = AttemptOutput()
        await AttemptExchange.readFrames(from: body, into: input, failures: outputSink)
        outputSink.finish()
        var received: [Frame] = []
        for await frame in input.frames() { received.append(frame) }
        var written: [Frame] = []
        for await frame in outputSink { written.append(frame) }
        return (received, written)
    }
}
