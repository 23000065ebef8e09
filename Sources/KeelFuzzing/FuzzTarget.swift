import Foundation
import KeelAnalytics
import KeelCore
import KeelEngine
import KeelProtocol

/// The parsers that take bytes from outside, each as a fuzzing harness: any input must be refused with an error
/// or accepted, never crash, hang or break the invariant the harness checks.
///
/// `Fuzz/` builds these into a libFuzzer binary (`scripts/fuzz.sh`); `KeelFuzzingTests` replays the committed
/// corpus (`Fuzz/Corpus/<target>/`) through them as ordinary tests. A harness reports a broken invariant by
/// returning a message (libFuzzer's entry point turns that into a crash, the test into a failure).
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// The service protocol's frame decoder, fed in chunks, and every frame's message decoded as its type.
    case frames
    /// An endpoint manifest (`GET /discover`'s JSON), decoded and registered as a deployment.
    case manifest
    /// An ingress path (`/Counter/key/add/send`, `/restate/invocation/…`), against a registry of three services.
    case ingressRoute = "ingress-route"
    /// A duration (`10s`, `1h30m`, `PT5M`, milliseconds).
    case duration
    /// A cron expression (with an optional `CRON_TZ=`-style zone as the first line), and its next ticks.
    case cron
    /// A pipe node's SQL template, parsed and expanded with and without parameters.
    case pipeTemplate = "pipe-template"
    /// A `.datasource` or `.pipe` file (Tinybird's format), and a parsed pipe compiled for SQLite.
    case datafile
    /// An NDJSON ingest body for the seed's `orders` datasource.
    case ndjson

    /// Runs the harness on one input; a message when an invariant broke, nil otherwise.
    public func run(_ data: Data) -> String? {
        switch self {
        case .frames: return Self.frames(data)
        case .manifest: return Self.manifest(data)
        case .ingressRoute: return Self.ingressRoute(data)
        case .duration: return Self.duration(data)
        case .cron: return Self.cron(data)
        case .pipeTemplate: return Self.pipeTemplate(data)
        case .datafile: return Self.datafile(data)
        case .ndjson: return Self.ndjson(data)
        }
    }

    // MARK: - Harnesses

    static func frames(_ data: Data) -> String? {
        var decoder = FrameDecoder(maxFrameLength: 64 * 1024)
        // The first byte picks the chunk size, so frames split at every place are tried.
        let chunk = max(1, Int(data.first ?? 1))
        var frames: [Frame] = []
        var offset = data.startIndex
        decoding: while offset < data.endIndex {
            let end = data.index(offset, offsetBy: chunk, limitedBy: data.endIndex) ?? data.endIndex
            decoder.append(data[offset..<end])
            offset = end
            do {
                while let frame = try decoder.next() { frames.append(frame) }
            } catch {
                break decoding
            }
        }
        for frame in frames {
            _ = JournalEntryFacts(type: frame.type, payload: frame.payload)
            var again = FrameDecoder(maxFrameLength: 64 * 1024)
            again.append(frame.encoded())
            guard let decoded = try? again.next(), decoded == frame else {
                return "frame of type \(frame.type) (\(frame.payload.count) bytes) does not survive encode → decode"
            }
        }
        return nil
    }

    static func manifest(_ data: Data) -> String? {
        guard let manifest = try? JSONDecoder().decode(EndpointManifest.self, from: data) else { return nil }
        let registry = ServiceRegistry()
        _ = try? registry.register(
            ServiceRegistry.Deployment(
                id: "dp_fuzz",
                uri: "http://127.0.0.1:1",
                manifest: manifest,
                protocolVersion: ServiceProtocolVersion.maxSupported.rawValue,
                transport: NoTransport()
            ),
            force: true
        )
        return nil
    }

    /// A registry with a service, a virtual object and a workflow, for the route harness.
    static let routes: ServiceRegistry = {
        let registry = ServiceRegistry()
        let manifest = EndpointManifest(
            protocolMode: .bidiStream,
            services: [
                .init(name: "Greeter", ty: .service, handlers: [.init(name: "greet")]),
                .init(name: "Counter", ty: .virtualObject, handlers: [.init(name: "add", ty: .exclusive)]),
                .init(name: "Signup", ty: .workflow, handlers: [.init(name: "run", ty: .workflow)]),
            ]
        )
        _ = try? registry.register(
            ServiceRegistry.Deployment(
                id: "dp_routes",
                uri: "http://127.0.0.1:1",
                manifest: manifest,
                protocolVersion: ServiceProtocolVersion.maxSupported.rawValue,
                transport: NoTransport()
            ),
            force: true
        )
        return registry
    }()

    static func ingressRoute(_ data: Data) -> String? {
        let path = String(decoding: data, as: UTF8.self)
        guard let route = try? IngressRoute.parse(path: path, registry: routes) else { return nil }
        switch route {
        case .call(let target), .send(let target):
            guard routes.services[target.service] != nil else {
                return "\(path) routed to \(target), which is not registered"
            }
        default:
            break
        }
        return nil
    }

    static func duration(_ data: Data) -> String? {
        let text = String(decoding: data, as: UTF8.self)
        if let duration = DurationParser.parse(text), duration < .zero {
            return "\(text) parsed as a negative duration \(duration)"
        }
        return nil
    }

    static func cron(_ data: Data) -> String? {
        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        let zone = lines.count == 2 ? String(lines[0]) : nil
        guard let schedule = try? CronSchedule(parsing: String(lines.last ?? ""), timeZone: zone) else { return nil }
        // 2026-03-29 00:30 UTC, the night Europe's clocks spring forward.
        let start: Int64 = 1_774_744_200_000
        var previous = start
        for tick in schedule.next(5, after: start) {
            guard tick > previous else { return "\(text): tick \(tick) is not after \(previous)" }
            previous = tick
        }
        return nil
    }

    static func pipeTemplate(_ data: Data) -> String? {
        let text = String(decoding: data, as: UTF8.self)
        guard let template = try? PipeTemplate(text) else { return nil }
        _ = try? template.expand([:])
        _ = try? template.expand(["start": "2026-01-01 00:00:00", "country": "US' OR 1=1 --", "limit": "10"])
        return nil
    }

    static func datafile(_ data: Data) -> String? {
        let text = String(decoding: data, as: UTF8.self)
        _ = try? Datasource.parse(text, name: "fuzz", file: "fuzz.datasource")
        if let pipe = try? Pipe.parse(text, name: "fuzz", file: "fuzz.pipe") {
            _ = try? PipeCompiler.validateForSQLite(pipe, datasources: orders.map { [$0] } ?? [])
        }
        return nil
    }

    /// The seed's `orders.datasource`.
    static let orders: Datasource? = {
        let text = """
            SCHEMA >
              `order_id` String,
              `user_id` String,
              `total_cents` Int64,
              `item_count` Int32,
              `timestamp` DateTime
            ENGINE MergeTree
            ENGINE_SORTING_KEY timestamp
            """
        return try? Datasource.parse(text, name: "orders", file: "orders.datasource")
    }()

    static func ndjson(_ data: Data) -> String? {
        guard let orders else { return "the orders datasource does not parse" }
        _ = try? NDJSONReader.read(data, into: orders)
        return nil
    }
}

/// A transport that never runs: the harnesses only register deployments.
struct NoTransport: AttemptTransport {
    func handle(_ head: AttemptHead, input: AttemptInput, output: AttemptOutput) async {}
}
