import Foundation
import HTTPTypes
import KeelEngine
import Testing

@testable import KeelServer

/// The engine speaks domain codes; KeelServer's `HTTPStatusMapping` alone turns them into HTTP statuses.
@Suite("HTTP status mapping")
struct HTTPStatusMappingTests {
    @Test("each engine code answers with the status the ingress has always used for it")
    func engineCodes() {
        let expected: [EngineError.Code: Int] = [
            .badRequest: 400, .notFound: 404, .conflict: 409, .notReady: 470, .unavailable: 503, .rateLimited: 429,
        ]
        #expect(Set(expected.keys) == Set(EngineError.Code.allCases), "a new code needs a status here")
        for code in EngineError.Code.allCases {
            #expect(HTTPStatusMapping.status(for: code).code == expected[code], "\(code)")
        }
    }

    @Test("a code Restate has keeps its number on the wire, as Restate's ingress answers")
    func restateCodes() {
        for code in EngineError.Code.allCases {
            guard let restateCode = code.restateCode else { continue }
            #expect(HTTPStatusMapping.status(for: code).code == Int(restateCode), "\(code)")
        }
        #expect(EngineError.Code.notReady.restateCode == 470)
        #expect(EngineError.Code.unavailable.restateCode == nil)
    }

    @Test("the ingress's own refusals are HTTP's 405 and 413")
    func refusals() {
        #expect(HTTPStatusMapping.status(for: HTTPRefusal.Reason.methodNotAllowed) == .methodNotAllowed)
        #expect(HTTPStatusMapping.status(for: HTTPRefusal.Reason.payloadTooLarge).code == 413)
        #expect(Set(HTTPRefusal.Reason.allCases).count == 2)
    }

    @Test("an error body keeps Restate's shape: the mapped status as code, the message, source ingress")
    func errorBody() throws {
        let body = IngressErrorBody(EngineError(.notReady, "invocation x has not completed"))
        let fields = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(body)) as? [String: Any])
        #expect(fields["code"] as? Int == 470)
        #expect(fields["message"] as? String == "invocation x has not completed")
        #expect(fields["source"] as? String == "ingress")
        let response = body.response()
        #expect(response.status.code == 470)
        #expect(response.headers.value(HeaderName.restateErrorSource) == "ingress")
        #expect(IngressErrorBody(HTTPRefusal.payloadTooLarge(limit: 10)).response().status.code == 413)
    }
}
