import Hummingbird
import KeelStore
import Testing

@testable import KeelServer

@Suite("Forwarding between cluster nodes, and the cluster's description")
struct ClusterForwardingTests {
    @Test("the holder's address and the request's path make the URL, an IPv6 host in brackets")
    func urls() {
        #expect(
            ClusterForwarder.url("127.0.0.1:7001", "/Counter/a/add?x=1") == "http://127.0.0.1:7001/Counter/a/add?x=1"
        )
        #expect(ClusterForwarder.url("::1:7001", "/health") == "http://[::1]:7001/health")
        #expect(ClusterForwarder.url("[::1]:7001", "/") == "http://[::1]:7001/")
        #expect(ClusterForwarder.url("node-a.internal:7001", "/") == "http://node-a.internal:7001/")
    }

    @Test("the cluster's secret is compared whole: a prefix, a longer or an empty one is refused")
    func secrets() {
        typealias Responder = ClusterResponder<
            RouterResponder<BasicRequestContext>, RouterResponder<BasicRequestContext>
        >
        #expect(Responder.same("a1b2c3", "a1b2c3"))
        #expect(!Responder.same("a1b2c", "a1b2c3"))
        #expect(!Responder.same("a1b2c3d", "a1b2c3"))
        #expect(!Responder.same("", "a1b2c3"))
        #expect(!Responder.same("a1b2c4", "a1b2c3"))
    }

    @Test("/cluster: the node with live leases is active, one that looks for them is a standby, the rest are gone")
    func roles() {
        let status = ClusterStatus(
            node: "n2",
            partitions: 2,
            leases: [
                .init(partition: 0, node: "n2", epoch: 3, expiresAt: 1_000, expiresIn: 2_000),
                .init(partition: 1, node: "n2", epoch: 3, expiresAt: 1_000, expiresIn: 2_000),
            ],
            nodes: [
                .init(name: "n1", address: "127.0.0.1:7001", startedAt: 1, lag: 60_000),
                .init(name: "n2", address: "127.0.0.1:7002", startedAt: 1, lag: 100),
                .init(name: "n3", address: nil, startedAt: 1, lag: 900, standby: true),
            ]
        )
        let body = AdminBody.Cluster(status)
        #expect(body.nodes.map(\.name) == ["n1", "n2", "n3"])
        #expect(body.nodes.map(\.role) == ["gone", "active", "standby"])
        #expect(body.nodes.map(\.live) == [false, true, true])
        #expect(body.nodes.map(\.partitions) == [[], [0, 1], []])
        #expect(body.nodes.map(\.lag_ms) == [60_000, 100, 900])
        #expect(body.nodes.map(\.standby) == [false, false, true])

        // A node that died holding leases: listed by its expired leases, gone.
        let expired = ClusterStatus(
            node: "n2",
            partitions: 1,
            leases: [.init(partition: 0, node: "n1", epoch: 1, expiresAt: 1_000, expiresIn: -500)],
            nodes: [.init(name: "n2", address: nil, startedAt: 1, lag: 200)]
        )
        #expect(AdminBody.Cluster(expired).nodes.map(\.role) == ["gone", "standby"])
        #expect(AdminBody.Cluster(expired).nodes.map(\.partitions) == [[0], []])
    }
}
