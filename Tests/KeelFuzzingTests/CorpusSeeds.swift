import Foundation
import KeelFuzzing
import KeelProtocol
import Testing

/// Writes the seed inputs of every target into `Fuzz/Corpus/` (run on demand, not in CI):
///
///     KEEL_WRITE_FUZZ_SEEDS=1 swift test --filter CorpusSeeds
///
/// Seeds are named `seed-…`; what libFuzzer adds keeps its hash names, crash reproducers are named `crash-…`.
@Suite("Fuzzing corpus seeds")
struct CorpusSeeds {
    @Test(
        "write the seeds",
        .enabled(if: ProcessInfo.processInfo.environment["KEEL_WRITE_FUZZ_SEEDS"] != nil)
    )
    func write() throws {
        for (target, seeds) in try Self.seeds() {
            let directory = CorpusReplayTests.corpus.appendingPathComponent(target.rawValue)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for (index, seed) in seeds.enumerated() {
                try seed.write(to: directory.appendingPathComponent(String(format: "seed-%02d", index)))
            }
        }
    }

    static func seeds() throws -> [(FuzzTarget, [Data])] {
        [
            (.frames, try frames()),
            (.manifest, try manifests()),
            (.ingressRoute, text(routes)),
            (.duration, text(durations)),
            (.cron, text(crons)),
            (.pipeTemplate, text(templates)),
            (.datafile, try datafiles()),
            (.ndjson, text(ndjson)),
        ]
    }

    static func text(_ lines: [String]) -> [Data] { lines.map { Data($0.utf8) } }

    /// Chunk-size byte first (see `FuzzTarget.frames`), then frames as an SDK or the runtime writes them.
    static func frames() throws -> [Data] {
        var start = PBStartMessage()
        start.id = Data(repeating: 7, count: 24)
        start.debugID = "inv_1fuzz"
        start.knownEntries = 2
        start.key = "alice"
        start.stateMap = [
            .with {
                $0.key = Data("count".utf8)
                $0.value = Data("3".utf8)
            }
        ]
        var input = PBInputCommandMessage()
        input.headers = [
            .with {
                $0.key = "traceparent"
                $0.value = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            }
        ]
        input.value = .with { $0.content = Data(#"{"order":"o-1"}"#.utf8) }
        var run = PBRunCommandMessage()
        run.resultCompletionID = 1
        run.name = "charge"
        var proposal = PBProposeRunCompletionMessage()
        proposal.resultCompletionID = 1
        proposal.value = Data(#""ch_1""#.utf8)
        var completion = PBRunCompletionNotificationMessage()
        completion.completionID = 1
        completion.value = .with { $0.content = Data(#""ch_1""#.utf8) }
        var call = PBCallCommandMessage()
        call.serviceName = "Payments"
        call.handlerName = "charge"
        call.key = "c-9"
        call.parameter = Data("{}".utf8)
        call.resultCompletionID = 2
        call.idempotencyKey = "o-1"
        var sleep = PBSleepCommandMessage()
        sleep.wakeUpTime = 1_800_000_000_000
        sleep.resultCompletionID = 3
        var set = PBSetStateCommandMessage()
        set.key = Data("count".utf8)
        set.value = .with { $0.content = Data("4".utf8) }
        var output = PBOutputCommandMessage()
        output.value = .with { $0.content = Data(#""done""#.utf8) }
        var suspension = PBSuspensionMessageV6()
        suspension.waitingCompletions = [2, 3]
        var failure = PBErrorMessage()
        failure.code = 500
        failure.message = "boom"
        let stream: [Frame] = [
            try Frame(type: .start, message: start),
            try Frame(type: .input, message: input),
            try Frame(type: .run, message: run),
            try Frame(type: .proposeRunCompletion, message: proposal),
            try Frame(type: .runCompletion, message: completion),
            try Frame(type: .call, message: call),
            try Frame(type: .sleep, message: sleep),
            try Frame(type: .setState, message: set),
            try Frame(type: .output, message: output),
            try Frame(type: .end, message: PBEndMessage()),
        ]
        let whole = Frame.encode(stream)
        var seeds = [1, 3, 8, 64, 255].map { Data([UInt8($0)]) + whole }
        seeds.append(Data([16]) + Frame.encode([try Frame(type: .suspension, message: suspension)]))
        seeds.append(Data([16]) + Frame.encode([try Frame(type: .error, message: failure)]))
        seeds.append(
            Data([4]) + Frame(type: 0xFC01, flags: Frame.requestedAckFlag, payload: Data("custom".utf8)).encoded()
        )
        seeds.append(Data([8]) + Frame(type: 0x0411, payload: Data([0xFF, 0xFF, 0xFF])).encoded())
        // A header announcing a payload longer than the decoder's limit.
        seeds.append(Data([8, 0x04, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF]))
        return seeds
    }

    static func manifests() throws -> [Data] {
        let python = CorpusReplayTests.corpus.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Tests/Interop/python")
        var seeds = [
            try Data(contentsOf: python.appendingPathComponent("expected-manifest-h1.json")),
            try Data(contentsOf: python.appendingPathComponent("expected-manifest-h2.json")),
        ]
        seeds += text([
            #"{"protocolMode":"BIDI_STREAM","minProtocolVersion":5,"maxProtocolVersion":6,"services":[{"name":"Greeter","ty":"SERVICE","handlers":[{"name":"greet","input":{"required":false,"contentType":"application/json"},"output":{"contentType":"application/json"}}]}]}"#,
            #"{"protocolMode":"REQUEST_RESPONSE","minProtocolVersion":5,"maxProtocolVersion":5,"services":[{"name":"Counter","ty":"VIRTUAL_OBJECT","handlers":[{"name":"add","ty":"EXCLUSIVE"},{"name":"get","ty":"SHARED"}],"metadata":{"keel.concurrency":"{\"limit\":2}"}}]}"#,
            #"{"protocolMode":"BIDI_STREAM","minProtocolVersion":5,"maxProtocolVersion":6,"services":[{"name":"Signup","ty":"WORKFLOW","handlers":[{"name":"run","ty":"WORKFLOW","metadata":{"keel.triggers":"[{\"cron\":\"0 * * * *\"}]"}},{"name":"status","ty":"SHARED"}],"inactivityTimeout":60000,"retryPolicyMaxAttempts":3,"retryPolicyOnMaxAttempts":"PAUSE"}]}"#,
            #"{"protocolMode":"BIDI_STREAM","minProtocolVersion":7,"maxProtocolVersion":1,"services":[]}"#,
            #"{"minProtocolVersion":5,"maxProtocolVersion":6,"services":[{"name":"","ty":"SERVICE","handlers":[]}]}"#,
            #"{"protocolMode":"BIDI_STREAM","minProtocolVersion":5,"maxProtocolVersion":6,"services":[{"name":"restate","ty":"SERVICE","handlers":[{"name":"x"},{"name":"x"}]}]}"#,
            #"{"protocolMode":"BIDI_STREAM","minProtocolVersion":-1,"maxProtocolVersion":9223372036854775807,"services":[{"name":"A","ty":"SERVICE","handlers":[{"name":"h","abortTimeout":-5,"journalRetention":1e308}]}]}"#,
        ])
        return seeds
    }

    static let routes = [
        "/Greeter/greet", "/Greeter/greet/send", "/Counter/alice/add", "/Counter/alice/add/send",
        "/Counter/al%20ice/add", "/Counter/%/add", "/Signup/user-1/run", "/Signup/user-1/run/send",
        "/restate/health", "/restate/events", "/api/v1/events",
        "/restate/invocation/inv_1fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz1/output",
        "/restate/invocation/Greeter/greet/key-1/attach", "/restate/invocation/Counter/alice/add/key-1/output",
        "/restate/workflow/Signup/user-1/attach", "/restate/awakeables/sign_1abc/resolve", "/restate/a/x/reject",
        "//Greeter//greet//", "/Unknown/h", "/", "", "/Counter/add",
    ]

    static let durations = [
        "10s", "1h30m", "250ms", "2d", "PT5M", "P1DT2H", "0", "1500", "-5s", "1e400s", "99999999999999999999h",
        "1.5s", "s", "h1", " 3 m ", "PT", "1h 30m 10s",
    ]

    static let crons = [
        "*/5 * * * *", "0 2 * * *", "Europe/Berlin\n30 2 * * *", "America/New_York\n0 0 1 * *",
        "0 9 * * MON-FRI", "@hourly", "@daily", "0 0 29 2 *", "59 23 31 12 *", "0 0 31 2 *", "*/0 * * * *",
        "61 * * * *", "Mars/Olympus\n* * * * *", "0 0 1-31/7 * SUN,SAT", "0 12 L * *",
    ]

    static let templates = [
        "%\nSELECT toDate(timestamp) AS day, sum(total_cents) / 100 AS revenue FROM orders WHERE timestamp >= {{ DateTime(start, '2026-01-01 00:00:00') }} GROUP BY day ORDER BY day",
        "%\nSELECT * FROM orders {% if defined(country) %} WHERE country = {{ String(country, 'US') }} {% end %} LIMIT {{ Int32(limit, 10) }}",
        "%\nSELECT {{ Int64(x) }}", "%\n{% if defined(a) %}{% if defined(b) %}x{% end %}{% end %}",
        "%\n{{ String(a, 'unterminated) }}", "%\n{% if defined(x) %} no end", "%\n{{ Float64(f, 1e309) }}",
        "SELECT 1", "%\n{{ UInt8(u, 256) }} {{ Date(d, '2026-02-30') }}",
    ]

    static func datafiles() throws -> [Data] {
        let examples = CorpusReplayTests.corpus.deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Examples/Analytics")
        var seeds = [
            try Data(contentsOf: examples.appendingPathComponent("datasources/orders.datasource")),
            try Data(contentsOf: examples.appendingPathComponent("pipes/revenue_dashboard.pipe")),
        ]
        seeds += text([
            "SCHEMA >\n  `a` Nullable(String) `json:$.a.b[0]`,\n  `b` LowCardinality(String)\nENGINE MergeTree\nENGINE_PARTITION_KEY toYYYYMM(b)\nTOKEN feed APPEND",
            "NODE one\nSQL >\n  SELECT * FROM orders\n\nNODE two\nSQL >\n  SELECT count() AS n FROM one\nTYPE endpoint\nTOKEN dash READ",
            "NODE a\nSQL >\n  %\n  SELECT user_id, sum(total_cents) FROM orders WHERE user_id = {{ String(u) }} GROUP BY user_id\nTYPE endpoint",
            "SCHEMA >\n  `x` Decimal(10, 2)", "NODE\nSQL >", "SCHEMA >\n  `a` String,\n  `a` String",
            "NODE x\nSQL >\n  SELECT arrayJoin([1,2]) FROM orders; DROP TABLE orders\nTYPE endpoint",
        ])
        return seeds
    }

    static let ndjson = [
        #"{"order_id":"o-1","user_id":"u-1","total_cents":4200,"item_count":2,"timestamp":"2026-03-01T12:00:00.000Z"}"#,
        #"{"order_id":"o-2","user_id":"u-2","total_cents":1,"item_count":1,"timestamp":"2026-03-01 12:00:00"}"#
            + "\n" + #"{"order_id":"o-3","user_id":"u-3","total_cents":9,"item_count":3,"timestamp":1772366400}"#,
        #"{"order_id":"o-4","total_cents":"12","timestamp":"2026-03-01T12:00:00+02:00"}"#,
        #"{"order_id":"o-5","user_id":null,"total_cents":9223372036854775808,"item_count":-1,"timestamp":"20260301"}"#,
        "not json\n{\"order_id\":", "\n\n\n", #"[{"order_id":"o-6"}]"#,
        #"{"order_id":"o-7","user_id":"u","total_cents":1e3,"item_count":2.5,"timestamp":"2026-13-45T99:99:99Z"}"#,
    ]
}
