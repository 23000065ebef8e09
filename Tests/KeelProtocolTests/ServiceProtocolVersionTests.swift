import KeelProtocol
import Testing

@Suite("ServiceProtocolVersion")
struct ServiceProtocolVersionTests {
    @Test("each version has its invocation content type")
    func contentTypes() {
        #expect(ServiceProtocolVersion.v5.contentType == "application/vnd.restate.invocation.v5")
        #expect(ServiceProtocolVersion.v6.contentType == "application/vnd.restate.invocation.v6")
        #expect(ServiceProtocolVersion.v7.contentType == "application/vnd.restate.invocation.v7")
    }

    @Test(
        "content type header values name a version",
        arguments: [
            ("application/vnd.restate.invocation.v5", 5),
            ("application/vnd.restate.invocation.v7", 7),
            (" Application/VND.restate.invocation.v6 ", 6),
            ("application/vnd.restate.invocation.v6; charset=binary", 6),
            ("application/vnd.restate.invocation.v12", 12),
        ]
    )
    func parse(header: String, version: Int) {
        #expect(ServiceProtocolVersion(contentType: header)?.rawValue == version)
    }

    @Test(
        "other content types name no version",
        arguments: [
            "", "application/json", "application/vnd.restate.invocation.v", "application/vnd.restate.invocation.v0",
            "application/vnd.restate.invocation.v+5", "application/vnd.restate.invocation.v5x",
            "application/vnd.restate.endpointmanifest.v3+json",
        ]
    )
    func parseRejects(header: String) {
        #expect(ServiceProtocolVersion(contentType: header) == nil)
    }

    @Test("Keel speaks V5 and V6")
    func supported() {
        #expect(ServiceProtocolVersion.minSupported == .v5)
        #expect(ServiceProtocolVersion.maxSupported == .v6)
        #expect(ServiceProtocolVersion.v6.isSupported)
        #expect(!ServiceProtocolVersion.v7.isSupported)
        #expect(!ServiceProtocolVersion(rawValue: 4).isSupported)
    }

    @Test(
        "negotiation picks the newest version both sides speak",
        arguments: [
            (5, 7, 6), (5, 5, 5), (5, 6, 6), (1, 6, 6), (6, 8, 6),
        ]
    )
    func negotiate(endpointMin: Int, endpointMax: Int, chosen: Int) {
        let version = ServiceProtocolVersion.negotiate(endpointMin: endpointMin, endpointMax: endpointMax)

        #expect(version?.rawValue == chosen)
    }

    @Test("negotiation fails when the ranges do not overlap", arguments: [(7, 8), (1, 4), (6, 5)])
    func negotiateFails(endpointMin: Int, endpointMax: Int) {
        #expect(ServiceProtocolVersion.negotiate(endpointMin: endpointMin, endpointMax: endpointMax) == nil)
    }
}
