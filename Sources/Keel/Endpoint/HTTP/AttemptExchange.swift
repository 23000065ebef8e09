import Foundation
import Hummingbird
import KeelProtocol
import NIOFoundationCompat

/// Runs one attempt between an invocation request and its streamed response, in both directions at once.
///
/// Request body bytes are cut into frames as they arrive and fed to the endpoint; every frame the endpoint
/// writes goes out as its own body chunk at once (Hummingbird flushes each write). The end of the request body
/// ends the endpoint's input: in request/response mode that is what makes the handler suspend when it needs
/// more than the journal holds; over HTTP/2 the server keeps the request open and pushes notifications.
struct AttemptExchange: Sendable {
    let endpoint: Endpoint
    let head: AttemptHead

    /// Streams the attempt into `writer` and finishes the response after the terminal frame.
    func run(requestBody: RequestBody, writer: inout any ResponseBodyWriter) async throws {
        let input = AttemptInput()
        let output = AttemptOutput()
        let endpoint = self.endpoint
        let head = self.head
        // Both children end when this scope is left: after the terminal frame, or when the client went away.
        // `async let`, not a task group: see docs/architecture.md ("Departures from the design").
        async let _: Void = {
            await endpoint.handle(head, input: input, output: output)
            output.finish()
        }()
        async let _: Void = Self.readFrames(from: requestBody, into: input, failures: output)
        for await frame in output {
            try await writer.write(ByteBuffer(data: frame.encoded()))
            if frame.endsAttempt { break }
        }
        try await writer.finish(nil)
    }

    /// Feeds the request body's frames to the endpoint until the body ends.
    ///
    /// A body that is not a sequence of frames cannot be answered frame by frame: the attempt then ends with
    /// an `ErrorMessage` (571, protocol violation) and the server retries it.
    static func readFrames(
        from body: RequestBody,
        into input: AttemptInput,
        failures output: AttemptOutput
    ) async {
        var decoder = FrameDecoder()
        do {
            for try await chunk in body {
                decoder.append(chunk.readableBytesView)
                while let frame = try decoder.next() { input.yield(frame) }
            }
            if decoder.hasPartialFrame {
                throw ProtocolError(
                    code: .protocolViolation,
                    message: "the request body ended inside a frame (\(decoder.bufferedByteCount) bytes left over)"
                )
            }
        } catch let error as ProtocolError {
            output.yield(.error(code: ProtocolError.Code.protocolViolation.rawValue, message: error.message))
            output.finish()
        } catch {
            // The request was reset or this task cancelled: nothing more will arrive.
        }
        input.finish()
    }
}

extension Frame {
    /// Whether the SDK sends nothing after this frame in an attempt: `End`, `Suspension` or `Error`.
    var endsAttempt: Bool {
        switch messageType {
        case .end, .suspension, .error: true
        default: false
        }
    }
}
