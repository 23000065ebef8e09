import Foundation
import KeelProtocol
import Testing

@Suite("EndpointManifest")
struct EndpointManifestTests {
    /// What the Python SDK 1.3.0 answered at discovery over HTTP/1.1 (manifest v4). The reference elides
    /// parts of the Signup handlers; they are filled in here the way Python writes them.
    static let pythonManifest = #"""
        {"protocolMode":"REQUEST_RESPONSE","minProtocolVersion":5,"maxProtocolVersion":7,"services":[
         {"name":"Counter","ty":"VIRTUAL_OBJECT","handlers":[
           {"name":"add","ty":"EXCLUSIVE","input":{"required":false,"contentType":"application/json","jsonSchema":{"type":"integer"}},
            "output":{"contentType":"application/json","setContentTypeIfEmpty":false,"jsonSchema":{"type":"integer"}}},
           {"name":"get","ty":"SHARED","input":{},"output":{"contentType":"application/json","setContentTypeIfEmpty":false,"jsonSchema":{"type":"integer"}}}]},
         {"name":"Signup","ty":"WORKFLOW","handlers":[
           {"name":"run","ty":"WORKFLOW","input":{"required":false,"contentType":"application/json","jsonSchema":{"type":"string"}},
            "output":{"contentType":"application/json","setContentTypeIfEmpty":false,"jsonSchema":{"type":"boolean"}}},
           {"name":"confirm","ty":"SHARED","input":{"required":false,"contentType":"application/json","jsonSchema":{"type":"object","properties":{"code":{"type":"string"},"attempts":{"type":["integer","null"]}},"required":["code"]}},
            "output":{"setContentTypeIfEmpty":false}}]}]}
        """#

    @Test("the Python SDK's manifest decodes")
    func decodePythonManifest() throws {
        let manifest = try JSONDecoder().decode(EndpointManifest.self, from: Data(Self.pythonManifest.utf8))

        #expect(manifest.protocolMode == .requestResponse)
        #expect(manifest.minProtocolVersion == 5)
        #expect(manifest.maxProtocolVersion == 7)
        #expect(manifest.lambdaCompression == nil)
        #expect(manifest.services.map(\.name) == ["Counter", "Signup"])
        #expect(manifest.services.map(\.ty) == [.virtualObject, .workflow])

        let counter = manifest.services[0]
        #expect(counter.handlers.map(\.ty) == [.exclusive, .shared])
        let addInput = EndpointManifest.InputPayload(
            required: false,
            contentType: "application/json",
            jsonSchema: ["type": "integer"]
        )
        #expect(counter.handlers[0].input == addInput)
        #expect(counter.handlers[1].input == .init())
        #expect(counter.handlers[1].output?.setContentTypeIfEmpty == false)

        let confirm = manifest.services[1].handlers[1]
        #expect(confirm.output == .init(setContentTypeIfEmpty: false))
        #expect(
            confirm.input?.jsonSchema == [
                "type": "object",
                "properties": ["code": ["type": "string"], "attempts": ["type": ["integer", "null"]]],
                "required": ["code"],
            ]
        )
    }

    @Test("unset fields are left out when encoding")
    func encodeOmitsNils() throws {
        let manifest = EndpointManifest(
            protocolMode: .bidiStream,
            services: [
                .init(
                    name: "Greeter",
                    ty: .service,
                    handlers: [.init(name: "greet", output: .init(contentType: "application/json"))],
                    inactivityTimeout: 60_000,
                    retryPolicyOnMaxAttempts: .kill
                )
            ]
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys

        let json = String(decoding: try encoder.encode(manifest), as: UTF8.self)

        #expect(
            json == #"{"maxProtocolVersion":6,"minProtocolVersion":5,"protocolMode":"BIDI_STREAM","services":["#
                + #"{"handlers":[{"name":"greet","output":{"contentType":"application\/json"}}],"#
                + #""inactivityTimeout":60000,"name":"Greeter","retryPolicyOnMaxAttempts":"KILL","ty":"SERVICE"}]}"#
        )
    }

    @Test("a manifest survives encoding and decoding")
    func roundTrip() throws {
        let original = try JSONDecoder().decode(EndpointManifest.self, from: Data(Self.pythonManifest.utf8))

        let decoded = try JSONDecoder().decode(EndpointManifest.self, from: JSONEncoder().encode(original))

        #expect(decoded == original)
    }

    @Test("manifest content types carry the manifest version")
    func contentTypes() {
        #expect(EndpointManifest.contentType(version: 3) == "application/vnd.restate.endpointmanifest.v3+json")
        #expect(EndpointManifest.version(contentType: "application/vnd.restate.endpointmanifest.v4+json") == 4)
        #expect(EndpointManifest.version(contentType: "application/vnd.restate.endpointmanifest.v4") == nil)
        #expect(EndpointManifest.version(contentType: "application/json") == nil)
    }
}

@Suite("JSONValue")
struct JSONValueTests {
    @Test("booleans, numbers, strings, null, arrays and objects keep their kinds")
    func kinds() throws {
        let json = #"{"a":true,"b":1,"c":1.5,"d":"x","e":null,"f":[false,0]}"#

        let value = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))

        #expect(
            value
                == .object([
                    "a": .bool(true), "b": .number(1), "c": .number(1.5), "d": .string("x"), "e": .null,
                    "f": .array([.bool(false), .number(0)]),
                ])
        )
        #expect(try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value)) == value)
    }
}
