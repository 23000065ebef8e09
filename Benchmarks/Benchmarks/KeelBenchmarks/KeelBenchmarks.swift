import Benchmark

/// Every benchmark of the suite. Figures are per iteration unless a benchmark's name says otherwise.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .instructions, .mallocCountTotal, .throughput],
        warmupIterations: 3,
        maxDuration: .seconds(2),
        maxIterations: 10_000
    )
    frameBenchmarks()
    replayBenchmarks()
    storeBenchmarks()
    // Ingress path parsing (`IngressRoute.parse`) is internal to KeelServer, so it has no benchmark here.
}
