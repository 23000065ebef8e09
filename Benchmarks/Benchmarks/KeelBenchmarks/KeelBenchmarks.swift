import Benchmark

/// Every benchmark of the suite. Figures are per iteration unless a benchmark's name says otherwise.
let benchmarks: @Sendable () -> Void = {
    // No `.cpuTotal`: it is counted in clock ticks (10 ms here), coarser than most of these iterations.
    // `.instructions` needs perf events; where the kernel refuses them the column is left out.
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .instructions, .mallocCountTotal, .throughput],
        warmupIterations: 3,
        maxDuration: .seconds(2),
        maxIterations: 10_000
    )
    frameBenchmarks()
    replayBenchmarks()
    storeBenchmarks()
    handoffBenchmarks()
    ingressBenchmarks()
}
