import CompressNIO
import Foundation
import HTTPTypes
import Hummingbird
import KeelAnalytics
import NIOCore
import NIOFoundationCompat

/// Tinybird's API on the ingress port: `POST /v0/events`, `GET /v0/pipes/{name}.json|csv|ndjson`,
/// `GET /v0/datasources` and `POST /v0/datasources/{name}/truncate`. Errors are `{"error": "…"}` with the
/// status Tinybird uses.
struct AnalyticsResponder: Sendable {
    let service: AnalyticsService
    let maxBodySize: Int

    /// The error of a `/v0/…` request: its status and message.
    struct Refusal: Error {
        var status: HTTPResponse.Status
        var message: String
    }

    func respond(to request: Request, segments: [String], reservation: BodyReservation) async -> Response {
        do {
            return try await route(request, segments: segments, reservation: reservation)
        } catch let refusal as Refusal {
            return Self.error(refusal.status, refusal.message)
        } catch let error as AnalyticsError {
            return Self.error(Self.status(error), error.description)
        } catch let refusal as HTTPRefusal {
            return Self.error(HTTPStatusMapping.status(for: refusal.reason), refusal.message)
        } catch is NIOTooManyBytesError {
            return Self.error(.contentTooLarge, "the body is over the limit of \(maxBodySize) bytes")
        } catch {
            return Self.error(.internalServerError, "\(error)")
        }
    }

    private func route(_ request: Request, segments: [String], reservation: BodyReservation) async throws -> Response {
        let catalog = service.current
        switch (request.method, segments.count, segments.dropFirst().first) {
        case (.post, 2, "events"):
            guard let name = request.uri.queryParameters["name"].map(String.init), !name.isEmpty else {
                throw Refusal(status: .badRequest, message: "name the datasource: POST /v0/events?name=<datasource>")
            }
            try authorize(
                request,
                tokens: catalog.datasource(name)?.appendTokens ?? [],
                catalog: catalog,
                what: "APPEND on datasource \(name)"
            )
            guard let datasource = catalog.datasource(name) else {
                throw Refusal(
                    status: .notFound,
                    message:
                        "datasource '\(name)' not found; deployed: \(catalog.datasources.map(\.name).sorted().joined(separator: ", "))"
                )
            }
            let body = try await self.body(request, reservation: reservation)
            let batch: IngestBatch
            do {
                batch = try NDJSONReader.read(body, into: datasource)
            } catch {
                throw Refusal(status: .contentTooLarge, message: error.description)
            }
            let outcome = try await service.engine.append(
                batch,
                to: datasource,
                idempotencyKey: request.headers.value(HeaderName.idempotencyKey)
            )
            let wait = request.uri.queryParameters["wait"].map { $0 == "true" || $0 == "1" } ?? false
            return Self.json(
                IngestBody(successfulRows: outcome.successfulRows, quarantinedRows: outcome.quarantinedRows),
                status: wait ? .ok : .accepted
            )
        case (.get, 3, "pipes"), (.post, 3, "pipes"):
            let file = segments[2]
            guard let dot = file.lastIndex(of: ".") else {
                throw Refusal(
                    status: .badRequest,
                    message: "add the format to the pipe's name: /v0/pipes/\(file).json, .csv or .ndjson"
                )
            }
            let name = String(file[..<dot])
            let format = String(file[file.index(after: dot)...])
            try authorize(
                request,
                tokens: catalog.pipe(name)?.readTokens ?? [],
                catalog: catalog,
                what: "READ on pipe \(name)"
            )
            guard let pipe = catalog.pipe(name) else {
                throw Refusal(
                    status: .notFound,
                    message:
                        "pipe '\(name)' not found; deployed: \(catalog.pipes.map(\.name).sorted().joined(separator: ", "))"
                )
            }
            guard ["json", "csv", "ndjson"].contains(format) else {
                throw Refusal(
                    status: .badRequest,
                    message: "format '\(format)' is not served; use .json, .csv or .ndjson"
                )
            }
            var parameters: [String: String] = [:]
            for (key, value) in request.uri.queryParameters where key != "token" {
                parameters[String(key)] = String(value)
            }
            let result = try await service.engine.query(
                PipeRequest(
                    pipe: pipe,
                    datasources: catalog.datasources,
                    parameters: parameters,
                    now: Int64(Date().timeIntervalSince1970),
                    timeLimit: service.configuration.queryTimeout,
                    rowLimit: service.configuration.maxRows
                )
            )
            let (text, type) =
                switch format {
                case "csv": (result.csv(), "text/csv; charset=utf-8")
                case "ndjson": (result.ndjson(), "application/x-ndjson")
                default: (result.json(), "application/json")
                }
            return Response(
                status: .ok,
                headers: [.contentType: type],
                body: ResponseBody(byteBuffer: ByteBuffer(string: text))
            )
        case (.get, 2, "datasources"):
            try authorize(request, tokens: [], catalog: catalog, what: "listing datasources")
            let counts = try await service.engine.rowCounts(catalog.datasources)
            let list = catalog.datasources.sorted { $0.name < $1.name }.map { source in
                DatasourceBody(
                    name: source.name,
                    engine: service.engine.name,
                    columns: source.columns.map {
                        .init(
                            name: $0.name,
                            type: $0.type.description,
                            jsonpath: $0.jsonPath.map { "$." + $0.joined(separator: ".") }
                        )
                    },
                    sortingKey: source.sortingKey,
                    partitionKey: source.partitionKey,
                    statistics: .init(rowCount: counts[source.name] ?? 0)
                )
            }
            return Self.json(["datasources": list])
        case (.post, 4, "datasources") where segments[3] == "truncate":
            let name = segments[2]
            try authorize(
                request,
                tokens: catalog.datasource(name)?.appendTokens ?? [],
                catalog: catalog,
                what: "truncating datasource \(name)"
            )
            guard let datasource = catalog.datasource(name) else {
                throw Refusal(status: .notFound, message: "datasource '\(name)' not found")
            }
            try await service.engine.truncate(datasource)
            return Response(status: .resetContent)
        default:
            throw Refusal(
                status: .notFound,
                message:
                    "unknown analytics path \(request.method) /\(segments.joined(separator: "/")); Keel serves POST /v0/events?name=…, GET /v0/pipes/{name}.json|csv|ndjson, GET /v0/datasources, POST /v0/datasources/{name}/truncate"
            )
        }
    }

    /// The body, gunzipped when `content-encoding: gzip` says so (the limit holds for both sizes).
    private func body(_ request: Request, reservation: BodyReservation) async throws -> Data {
        var buffer = try await request.collectBody(upTo: maxBodySize, reservation: reservation)
        let encoding = request.headers[.contentEncoding]?.lowercased() ?? ""
        guard encoding.contains("gzip") else { return Data(buffer: buffer) }
        do {
            let inflated = try buffer.decompress(with: .gzip(), maxSize: maxBodySize)
            try reservation.grow(to: buffer.capacity + inflated.readableBytes)
            return Data(buffer: inflated)
        } catch let error as CompressNIOError where error == .bufferOverflow {
            throw Refusal(
                status: .contentTooLarge,
                message: "the gzipped body inflates past the limit of \(maxBodySize) bytes"
            )
        } catch let refusal as HTTPRefusal {
            throw refusal
        } catch {
            throw Refusal(
                status: .badRequest,
                message: "the body says content-encoding: gzip but does not inflate: \(error)"
            )
        }
    }

    /// Open while no file declares a token and no `admin` token is configured; otherwise the bearer token (or
    /// `?token=`) must be one of `tokens` or the admin token. 401 without one, 403 with one that does not grant
    /// the access; neither says whether the resource exists.
    private func authorize(_ request: Request, tokens: [String], catalog: AnalyticsCatalog, what: String) throws {
        let configured = service.configuration.tokens
        let anyDeclared =
            catalog.datasources.contains { !$0.appendTokens.isEmpty }
            || catalog.pipes.contains { !$0.readTokens.isEmpty }
        guard anyDeclared || configured["admin"] != nil else { return }
        var presented: String?
        if let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") {
            presented = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        } else if let query = request.uri.queryParameters["token"] {
            presented = String(query)
        }
        guard let presented, !presented.isEmpty else {
            throw Refusal(status: .unauthorized, message: "a token is needed: send Authorization: Bearer <token>")
        }
        let granting = (tokens + ["admin"]).compactMap { configured[$0] }
        guard granting.contains(where: { AccessTokens.constantTimeEqual($0, presented) }) else {
            throw Refusal(status: .forbidden, message: "the token does not grant \(what)")
        }
    }

    static func status(_ error: AnalyticsError) -> HTTPResponse.Status {
        switch error {
        case .badParameter, .invalid, .tooManyRows: .badRequest
        case .conflict: .conflict
        case .timeout: .requestTimeout
        case .engine: .internalServerError
        }
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(["error": message], status: status)
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = (try? encoder.encode(value)) ?? Data()
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}

private struct IngestBody: Encodable {
    var successfulRows: Int
    var quarantinedRows: Int

    enum CodingKeys: String, CodingKey {
        case successfulRows = "successful_rows"
        case quarantinedRows = "quarantined_rows"
    }
}

private struct DatasourceBody: Encodable {
    struct Column: Encodable {
        var name: String
        var type: String
        var jsonpath: String?
    }

    struct Statistics: Encodable {
        var rowCount: Int

        enum CodingKeys: String, CodingKey {
            case rowCount = "row_count"
        }
    }

    var name: String
    var engine: String
    var columns: [Column]
    var sortingKey: String?
    var partitionKey: String?
    var statistics: Statistics

    enum CodingKeys: String, CodingKey {
        case name, engine, columns, statistics
        case sortingKey = "sorting_key"
        case partitionKey = "partition_key"
    }
}
