import Hummingbird
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// The Prometheus endpoint: where it listens, and the registry it renders.
///
/// The library never bootstraps `MetricsSystem` (a process can do that once, and tests run many engines in one
/// process): the executable does, with `prometheusFactory(registry:)`, and passes the same registry here.
/// Without a `MetricsConfiguration` nothing listens and, unless the process bootstrapped a backend itself,
/// every metric is a no-op.
public struct MetricsConfiguration: Sendable {
    public typealias Bind = ServerConfiguration.Bind

    /// Restate's metrics address (its node port).
    public static let defaultBind = Bind(host: "127.0.0.1", port: 5122)

    /// Where `GET /metrics` is served.
    public var bind: Bind
    public var registry: PrometheusCollectorRegistry
    /// The operator asked for this address: when it cannot be bound the server does not start. Otherwise (the
    /// default address) it starts without metrics and says so, so that a second server on the machine, or a
    /// test suite's servers, are not kept from starting by the first one holding port 5122.
    public var isRequired: Bool

    public init(bind: Bind = Self.defaultBind, registry: PrometheusCollectorRegistry, isRequired: Bool = true) {
        self.bind = bind
        self.registry = registry
        self.isRequired = isRequired
    }

    /// What `--metrics-bind` takes to serve no metrics.
    public static let disabledValues: Set<String> = ["", "off", "none", "false"]

    /// A swift-metrics factory writing into `registry`, with histogram buckets fit for Keel: attempts and steps
    /// take from a fraction of a millisecond (embedded) to minutes, a group commit from tens of microseconds
    /// to a slow disk's hundreds of milliseconds, and a batch holds from one operation to thousands.
    public static func prometheusFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        let work: [Duration] = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        factory.durationHistogramBuckets = [
            "keel_attempt_duration_seconds": work,
            "keel_step_duration_seconds": work,
            "keel_commit_duration_seconds": [
                .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
                .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
                .milliseconds(100), .milliseconds(250), .seconds(1),
            ],
        ]
        factory.valueHistogramBuckets = [
            "keel_commit_batch_size": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
        ]
        return factory
    }
}

/// `keel_ingress_requests_total{status}`: requests the ingress answered, by HTTP status code. The usual codes'
/// handles are made once; a rarer code's handle is made at its first use and kept (codes outside 100-599 count
/// as "other", so there are at most 501 series).
final class IngressMetrics: Sendable {
    static let name = "keel_ingress_requests_total"
    private static let usual: [Int] = [200, 202, 400, 404, 405, 408, 409, 413, 415, 429, 500, 503]

    private let common: [Int: Metrics.Counter]
    private let rare = Mutex<[Int: Metrics.Counter]>([:])

    init() {
        var common: [Int: Metrics.Counter] = [:]
        for code in Self.usual { common[code] = Self.counter(code) }
        self.common = common
    }

    func count(_ status: HTTPResponse.Status) {
        let code = status.code
        if let counter = common[code] {
            counter.increment()
            return
        }
        let key = (100...599).contains(code) ? code : 0
        rare.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Self.counter(key)
            counters[key] = counter
            return counter
        }.increment()
    }

    private static func counter(_ code: Int) -> Metrics.Counter {
        Metrics.Counter(label: name, dimensions: [("status", code == 0 ? "other" : String(code))])
    }
}

/// Answers `GET /metrics` with the registry in Prometheus' text format; 404 elsewhere.
struct MetricsResponder: HTTPResponder {
    typealias Context = BasicRequestContext

    let registry: PrometheusCollectorRegistry

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.uri.path == "/metrics" else {
            return Response(status: .notFound, body: ResponseBody(byteBuffer: ByteBuffer(string: "try /metrics\n")))
        }
        guard request.method == .get || request.method == .head else {
            return Response(status: .methodNotAllowed, headers: [.allow: "GET, HEAD"])
        }
        let body = registry.emitToBuffer()
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: request.method == .head ? ResponseBody() : ResponseBody(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}

/// The metrics listener as a service of `KeelApplication`'s group, with a connection share of its own. When its
/// address cannot be bound, the server's start fails naming the flag, or, for the default address, goes on
/// without metrics after a warning (see `MetricsConfiguration.isRequired`): add it to the group with
/// `successTerminationBehavior: .ignore`, since it then returns at once.
struct MetricsServer: Service {
    let configuration: MetricsConfiguration
    let application: Application<MetricsResponder>
    let logger: Logger

    init(
        configuration: MetricsConfiguration,
        timeouts: ConnectionTimeouts,
        tracker: ConnectionTracker,
        eventLoopGroup: MultiThreadedEventLoopGroup,
        logger: Logger
    ) {
        self.configuration = configuration
        self.logger = logger
        application = Application(
            responder: MetricsResponder(registry: configuration.registry),
            server: .guardedHTTP1(tracker: tracker, timeouts: timeouts, bindToEventLoop: false),
            configuration: .init(
                address: .hostname(configuration.bind.host, port: configuration.bind.port),
                serverName: "keel-metrics"
            ),
            eventLoopGroupProvider: .shared(eventLoopGroup),
            logger: logger
        )
    }

    /// Connections a scraper may keep open at once.
    static let connectionLimit = 16

    func run() async throws {
        do {
            try await application.run()
        } catch  where !configuration.isRequired {
            logger.warning(
                "no metrics: the default metrics address cannot be bound; choose one with --metrics-bind, or 'off'",
                metadata: ["address": "\(configuration.bind)", "error": "\(error)"]
            )
        } catch {
            throw KeelApplicationError("cannot serve metrics on \(configuration.bind) (--metrics-bind): \(error)")
        }
    }
}
