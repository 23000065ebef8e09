import Foundation
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// Where Keel sends its spans: an OpenTelemetry collector's OTLP/HTTP endpoint (`--tracing-endpoint`).
///
/// The standard `OTEL_…` variables still apply on top (`OTEL_SERVICE_NAME`, `OTEL_BSP_SCHEDULE_DELAY`,
/// `OTEL_TRACES_SAMPLER`, `OTEL_EXPORTER_OTLP_HEADERS`, …), as swift-otel reads them.
public struct TracingConfiguration: Sendable, Hashable {
    /// The URL spans are posted to (OTLP/HTTP, protobuf): `/v1/traces` on the collector unless the URL names a path.
    public var tracesURL: String

    /// `endpoint`: `http(s)://host:port[/path]`, or Restate's `otlp+http(s)://…` spelling of it. A URL without a
    /// path gets the standard `/v1/traces`; anything that is not an http(s) URL with a host is refused, named.
    public init(endpoint: String) throws {
        var text = endpoint.trimmingCharacters(in: .whitespaces)
        if text.lowercased().hasPrefix("otlp+") { text.removeFirst(5) }
        guard var components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            ["http", "https"].contains(scheme), let host = components.host, !host.isEmpty
        else {
            throw KeelApplicationError(
                "--tracing-endpoint \(endpoint) is not an OTLP/HTTP URL (expected http://host:4318 or https://…; Keel exports OTLP over HTTP, not gRPC)"
            )
        }
        if components.path.isEmpty || components.path == "/" { components.path = "/v1/traces" }
        guard let url = components.string else {
            throw KeelApplicationError("--tracing-endpoint \(endpoint) is not a URL")
        }
        self.tracesURL = url
    }

    /// The tracer the engine reports to, and the service that batches and exports its spans (run it in the
    /// server's service group, shut down after the engine so the last spans leave).
    func makeBackend(logger: Logger) throws -> (tracer: any Tracer, service: any Service) {
        var configuration = OTel.Configuration.default
        configuration.serviceName = "keel"
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        configuration.traces.otlpExporter.endpoint = tracesURL
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        return (backend.factory, backend.service)
    }
}
