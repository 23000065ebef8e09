import Benchmark
import Foundation
import Keel
@_spi(Benchmarks) import KeelServer

/// The ingress's own work for a call: route the path, collect and check the body, keep the headers to forward.
func ingressBenchmarks() {
    let bench = Service("Bench").handler("run") { (_: Context, steps: Int) in steps }
    let counter = VirtualObject("Counter").handler("add") { (_: ObjectContext, amount: Int) in amount }
    let ingress = IngressParsing(endpoints: [Endpoint(bench, counter)])
    let headers = [
        ("content-type", "application/json"), ("host", "127.0.0.1:8080"), ("user-agent", "keel-load"),
        ("accept", "*/*"), ("x-request-id", "4f1c2a"),
    ]
    let body = Data(#"{"steps":3}"#.utf8)

    Benchmark("Ingress: parse 1,000 calls (route, JSON body check, headers)") { benchmark in
        for _ in benchmark.scaledIterations {
            for _ in 0..<1_000 {
                let request = try await ingress.invocation(path: "/Bench/run", headers: headers, body: body)
                blackHole(request)
            }
        }
    }

    Benchmark("Ingress: parse 1,000 keyed sends (/Counter/{key}/add/send)") { benchmark in
        for _ in benchmark.scaledIterations {
            for number in 0..<1_000 {
                let request = try await ingress.invocation(
                    path: "/Counter/user-\(number % 16)/add/send",
                    headers: headers,
                    body: Data("1".utf8)
                )
                blackHole(request)
            }
        }
    }
}
