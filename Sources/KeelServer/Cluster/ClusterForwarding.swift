import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import KeelEngine
import KeelStore
import NIOCore
import NIOHTTP1
import Synchronization

/// Which of a node's listeners a request forwarded to it was meant for. The node that holds the partitions
/// serves both behind its `--cluster-bind` address, told apart by the `x-keel-listener` header.
enum ClusterListener: String, Sendable {
    case ingress
    case admin

    /// The headers a standby adds when it forwards, removed before the request is served: the listener it is
    /// for, the standby's name, and the cluster's secret (`LeasedStore.clusterSecret()`: only a node of the
    /// cluster can send requests to another's `--cluster-bind` listener, which serves the admin API too).
    static let listenerHeader = "x-keel-listener"
    static let forwardedByHeader = "x-keel-forwarded-by"
    static let secretHeader = "x-keel-cluster-secret"
    /// How many nodes forwarded the request so far (`ClusterHops`).
    static let hopsHeader = "x-keel-hops"
    static let internalHeaders = [listenerHeader, forwardedByHeader, secretHeader, hopsHeader].compactMap {
        HTTPField.Name($0)
    }
    /// Where a node's `--cluster-bind` listener tells the other nodes which invocations have an attempt in
    /// flight there (`/query`'s `running` status on a cluster).
    static let runningPath = "/keel-cluster/running"
    static let header = HTTPField.Name(listenerHeader)
    static let secret = HTTPField.Name(secretHeader)
    static let hops = HTTPField.Name(hopsHeader)

    /// The largest body each listener takes: the ingress's `--max-body-size`, and the admin API's largest
    /// upload (state, `PUT /services/…/state`).
    func bodyLimit(ingress: Int) -> Int {
        switch self {
        case .ingress: ingress
        case .admin: AdminAPI.largestBody
        }
    }
}

/// How many nodes forwarded the request being served: a standby sends a request to any node that runs
/// partitions, which may send it once more to the node that runs its invocation's partition; no further.
enum ClusterHops {
    @TaskLocal static var count = 0
    static let limit = 2
}

/// A standby's ingress and admin API: every request goes on to the node that holds the partitions, at the
/// address it gave with `--cluster-bind`, and its answer comes back as it is, streamed both ways.
///
/// The holder is read from the store's leases, and kept for half a second so that a busy standby does not ask
/// the database once per request; a failed forward forgets it at once (the holder may have died: a failover
/// moves the leases within the lease duration).
final class ClusterForwarder: Sendable {
    private let cluster: any LeasedStore
    private let client: HTTPClient
    private let node: String
    /// `--max-body-size`: larger bodies for the ingress are refused here, as the holder would refuse them.
    private let maxBodySize: Int
    /// `--max-inflight-bytes`: the ingress bodies read to be sent on count in it while they are held.
    let budget: BodyBudget?
    /// Each partition's owner, and (under nil) any node holding partitions, with when the answer goes stale.
    private let owners = Mutex<[Int?: (owner: ClusterStatus.Node, until: ContinuousClock.Instant)]>([:])
    private let knownSecret = Mutex<String?>(nil)

    static let cacheDuration: Duration = .milliseconds(500)
    /// Headers that belong to one connection, not to the request (RFC 9110 §7.6.1), and `host`, which the
    /// client sets for the holder's address.
    static let connectionHeaders: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host",
    ]

    /// A forward fails at once when the holder cannot be reached (it may have died: the client retries,
    /// through whichever node then holds the partitions), instead of waiting in the client's reconnection
    /// backoff; redirects go back to the client as they are.
    /// It opens as many connections to the holder as the standby's listeners accept (calls wait for their
    /// results on them), and closes idle ones well before the holder's own idle timeout would.
    static func clientConfiguration(connections: Int) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(2))
        )
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, connections)
        configuration.connectionPool.idleTimeout = .seconds(20)
        return configuration
    }

    init(cluster: any LeasedStore, client: HTTPClient, node: String, maxBodySize: Int, budget: BodyBudget?) {
        self.cluster = cluster
        self.client = client
        self.node = node
        self.maxBodySize = maxBodySize
        self.budget = budget
    }

    /// Forwards `request` to the node that runs `partition`, or (nil) to any node that holds partitions.
    func forward(_ request: Request, to listener: ClusterListener, partition: Int? = nil) async -> Response {
        let holder: ClusterStatus.Node?
        do {
            holder = try await owner(of: partition)
        } catch {
            return Self.refusal(
                listener,
                "this node is a standby and cannot read the cluster's leases to forward the request: \(error)"
            )
        }
        guard let holder else {
            return Self.refusal(
                listener,
                "no node holds the partitions now (a failover is under way, or the node holding them stopped); "
                    + "retry in a moment"
            )
        }
        guard holder.name != node else {
            // Its lease still names this node, which no longer runs it: it is being handed to another node.
            owners.withLock { _ = $0.removeValue(forKey: partition) }
            return Self.refusal(
                listener,
                "partition \(partition.map(String.init) ?? "?") is moving to another node of the cluster; retry in a moment"
            )
        }
        guard let address = holder.address, !address.isEmpty else {
            return Self.refusal(
                listener,
                "node \(holder.name) holds the partitions but was started without --cluster-bind, so standby "
                    + "\(node) cannot forward to it; send the request to \(holder.name) directly"
            )
        }
        var outgoing = HTTPClientRequest(url: Self.url(address, request.uri.description))
        outgoing.method = HTTPMethod(rawValue: request.method.rawValue)
        for field in request.headers where !Self.connectionHeaders.contains(field.name.canonicalName) {
            outgoing.headers.add(name: field.name.rawName, value: field.value)
        }
        guard let secret = await secret() else {
            return Self.refusal(listener, "standby \(node) cannot read the cluster's secret to forward the request")
        }
        outgoing.headers.replaceOrAdd(name: ClusterListener.listenerHeader, value: listener.rawValue)
        outgoing.headers.replaceOrAdd(name: ClusterListener.forwardedByHeader, value: node)
        outgoing.headers.replaceOrAdd(name: ClusterListener.secretHeader, value: secret)
        outgoing.headers.replaceOrAdd(name: ClusterListener.hopsHeader, value: String(ClusterHops.count + 1))
        // The body is read whole first (it is bounded): streamed, the holder could answer before reading it, and
        // the client would still be sending it while this listener drains it.
        let reservation = BodyReservation(listener == .ingress ? budget : nil)
        defer { reservation.release() }
        switch await Self.wholeBody(of: request, limit: listener.bodyLimit(ingress: maxBodySize), reservation) {
        case .none: break
        case .bytes(let body): outgoing.body = .bytes(body)
        case .tooLarge(let limit): return Self.tooLarge(listener, limit: limit)
        case .overloaded(let message): return Self.refusal(listener, message)
        }
        do {
            // A call may wait long for its handler's result: the deadline only bounds a holder that never answers.
            let response = try await client.execute(outgoing, deadline: .now() + .hours(24))
            var headers = HTTPFields()
            for header in response.headers where !Self.connectionHeaders.contains(header.name.lowercased()) {
                if let name = HTTPField.Name(header.name) { headers.append(HTTPField(name: name, value: header.value)) }
            }
            return Response(
                status: HTTPResponse.Status(code: Int(response.status.code)),
                headers: headers,
                body: ResponseBody(asyncSequence: response.body)
            )
        } catch {
            owners.withLock { _ = $0.removeValue(forKey: partition) }
            return Self.refusal(
                listener,
                "standby \(node) could not forward the request to node \(holder.name) at \(address), which holds "
                    + "the partitions: \(error). If that node failed while it had the request, it may have accepted "
                    + "it: retry with the same idempotency key (once its leases expire another node takes over)"
            )
        }
    }

    /// The invocations with an attempt in flight on the other nodes holding partitions, each asked at its
    /// `--cluster-bind` address; a node that does not answer within `timeout` is left out (its invocations then
    /// show as ready instead of running).
    func runningElsewhere(timeout: Duration = .seconds(2)) async -> Set<String> {
        guard let status = try? await cluster.clusterStatus(), let secret = await secret() else { return [] }
        let holders = Set(status.leases.filter { ($0.expiresIn ?? 0) > 0 }.compactMap(\.node)).subtracting([node])
        let addresses = status.nodes.filter { holders.contains($0.name) }.compactMap(\.address).filter { !$0.isEmpty }
        let client = self.client
        return await withTaskGroup(of: [String].self) { group in
            for address in addresses {
                group.addTask {
                    var request = HTTPClientRequest(url: Self.url(address, ClusterListener.runningPath))
                    request.headers.add(name: ClusterListener.secretHeader, value: secret)
                    guard let response = try? await client.execute(request, timeout: .init(timeout)),
                        response.status == .ok,
                        let body = try? await response.body.collect(upTo: 64 << 20)
                    else { return [] }
                    return (try? JSONDecoder().decode([String].self, from: Data(buffer: body))) ?? []
                }
            }
            var running = Set<String>()
            for await ids in group { running.formUnion(ids) }
            return running
        }
    }

    /// `http://host:port/path?query`, with an IPv6 host in brackets.
    static func url(_ address: String, _ uri: String) -> String {
        guard let colon = address.lastIndex(of: ":") else { return "http://\(address)\(uri)" }
        let host = address[..<colon]
        let hostPart = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : String(host)
        return "http://\(hostPart)\(address[colon...])\(uri)"
    }

    /// The cluster's secret, read once.
    private func secret() async -> String? {
        if let known = knownSecret.withLock({ $0 }) { return known }
        let read = try? await cluster.clusterSecret()
        knownSecret.withLock { $0 = read }
        return read
    }

    /// The node that runs `partition`, or (nil) any node holding partitions, from the cache while it is fresh.
    private func owner(of partition: Int?) async throws -> ClusterStatus.Node? {
        let now = ContinuousClock.now
        if let cached = owners.withLock({ $0[partition] }), cached.until > now { return cached.owner }
        let owner: ClusterStatus.Node? =
            if let partition { try await cluster.owner(ofPartition: partition) } else {
                try await cluster.partitionHolder()
            }
        owners.withLock { $0[partition] = owner.map { ($0, now.advanced(by: Self.cacheDuration)) } }
        return owner
    }

    /// A request's body, read whole so that it can be sent on: none, its bytes, over `limit`, or refused
    /// because the bodies in flight use the whole `--max-inflight-bytes` budget (503: retry).
    enum WholeBody {
        case none
        case bytes(ByteBuffer)
        case tooLarge(limit: Int)
        case overloaded(String)
    }

    /// Reads the body whole, counted in `reservation` as it arrives (nothing counts when it has no budget).
    static func wholeBody(of request: Request, limit: Int, _ reservation: BodyReservation) async -> WholeBody {
        guard request.headers[.contentLength] != nil || request.headers[.transferEncoding] != nil else { return .none }
        do {
            return .bytes(try await request.collectBody(upTo: limit, reservation: reservation))
        } catch let refusal as EngineError where refusal.code == .unavailable {
            return .overloaded(refusal.message)
        } catch {
            return .tooLarge(limit: limit)
        }
    }

    /// 503 in the listener's own error format, with `Retry-After`.
    static func refusal(_ listener: ClusterListener, _ message: String) -> Response {
        switch listener {
        case .ingress:
            var response = IngressErrorBody(EngineError(.unavailable, message)).response()
            response.headers[.retryAfter] = "1"
            return response
        case .admin:
            return adminError(.serviceUnavailable, message, headers: [.retryAfter: "1"])
        }
    }

    /// 413: the body is over the limit, or could not be read whole.
    static func tooLarge(_ listener: ClusterListener, limit: Int) -> Response {
        let refusal = HTTPRefusal.payloadTooLarge(limit: limit)
        switch listener {
        case .ingress: return IngressErrorBody(refusal).response()
        case .admin: return adminError(.contentTooLarge, refusal.message)
        }
    }

    /// The admin API's error body, `{"message": …}`.
    static func adminError(
        _ status: HTTPResponse.Status,
        _ message: String,
        headers: HTTPFields = [:]
    ) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        let body = (try? JSONEncoder().encode(AdminBody.Error(message: message))) ?? Data()
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// What a listener does with a request for another node's partition (`PartitionRoutingResponder`).
enum PartitionRoutingMode: Sendable {
    /// One node (no cluster): requests go straight to the listener's responder.
    case off
    case forward(ClusterForwarder)

    var forwarder: ClusterForwarder? {
        if case .forward(let forwarder) = self { return forwarder }
        return nil
    }
}

/// A listener of a node that runs some of a cluster's partitions: a request about an invocation on another
/// node's partition (the engine throws `PartitionElsewhere`) goes on to that node. The body is read first, so
/// that it can be sent on. A request forwarded `ClusterHops.limit` times already is not sent on again: it is
/// answered 503 (the partition moved meanwhile: the client retries).
struct PartitionRoutingResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == BasicRequestContext {
    typealias Context = BasicRequestContext

    let inner: Inner
    let mode: PartitionRoutingMode
    let listener: ClusterListener
    let maxBodySize: Int

    func respond(to request: Request, context: Context) async throws -> Response {
        guard case .forward(let forwarder) = mode else { return try await inner.respond(to: request, context: context) }
        var buffered = request
        // Counted in the ingress's budget while it is read; then the responder that serves it counts its own
        // copy, and a forward counts the copy it sends on.
        let reservation = BodyReservation(listener == .ingress ? forwarder.budget : nil)
        let body = await ClusterForwarder.wholeBody(
            of: request,
            limit: listener.bodyLimit(ingress: maxBodySize),
            reservation
        )
        reservation.release()
        switch body {
        case .none: break
        case .bytes(let body): buffered = Request(head: request.head, body: RequestBody(buffer: body))
        case .tooLarge(let limit): return ClusterForwarder.tooLarge(listener, limit: limit)
        case .overloaded(let message): return ClusterForwarder.refusal(listener, message)
        }
        do {
            return try await inner.respond(to: buffered, context: context)
        } catch let elsewhere as PartitionElsewhere {
            guard ClusterHops.count < ClusterHops.limit else {
                return ClusterForwarder.refusal(
                    listener,
                    "\(elsewhere) than the one this request was forwarded to (its lease moved); retry in a moment"
                )
            }
            return await forwarder.forward(buffered, to: listener, partition: elsewhere.partition)
        }
    }
}

/// A standby's listener: forwards whatever it receives (`ClusterForwarder`).
struct ForwardingResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let forwarder: ClusterForwarder
    let listener: ClusterListener

    func respond(to request: Request, context: Context) async throws -> Response {
        await forwarder.forward(request, to: listener)
    }
}

/// The `--cluster-bind` listener of the node that holds the partitions: the requests standbys forward,
/// each handed to the listener it was meant for (its tokens and limits apply as on that listener). Only requests
/// that show the cluster's secret are served, without the nodes' own headers.
struct ClusterResponder<Ingress: HTTPResponder, Admin: HTTPResponder>: HTTPResponder
where Ingress.Context == BasicRequestContext, Admin.Context == BasicRequestContext {
    typealias Context = BasicRequestContext
    let ingress: Ingress
    let admin: Admin
    let secret: String
    /// The invocations with an attempt in flight on this node, for the others' `/query`.
    let running: @Sendable () async -> [String]

    func respond(to request: Request, context: Context) async throws -> Response {
        guard let shown = request.headers.value(ClusterListener.secret), Self.same(shown, secret) else {
            return ClusterForwarder.adminError(
                .forbidden,
                "only the nodes of this cluster may send requests to its cluster address"
            )
        }
        if request.method == .get, request.uri.path == ClusterListener.runningPath {
            let body = try JSONEncoder().encode(await running().sorted())
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(data: body))
            )
        }
        let listener = request.headers.value(ClusterListener.header).flatMap(ClusterListener.init)
        let hops = request.headers.value(ClusterListener.hops).flatMap { Int($0) }.map { max(1, $0) } ?? 1
        var head = request.head
        for name in ClusterListener.internalHeaders { head.headerFields[name] = nil }
        let served = Request(head: head, body: request.body)
        return try await ClusterHops.$count.withValue(hops) {
            switch listener {
            case .ingress: return try await ingress.respond(to: served, context: context)
            case .admin: return try await admin.respond(to: served, context: context)
            case nil:
                return ClusterForwarder.adminError(
                    .badRequest,
                    "this is a node's cluster address: send requests to its ingress or admin API"
                )
            }
        }
    }

    /// Compares in time independent of where the two differ.
    static func same(_ left: String, _ right: String) -> Bool {
        let (a, b) = (Array(left.utf8), Array(right.utf8))
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
