import Benchmark

/// What handing a value from one task to another costs on this machine: the unit in which the engine's hot
/// path is counted (docs/performance.md, "Where the time of one invocation goes").
func handoffBenchmarks() {
    Benchmark("Concurrency: 1,000 round trips between two tasks through AsyncStreams (2,000 hand-offs)") { _ in
        await roundTrips(1_000)
    }
}

/// Two tasks pass a counter back and forth through two AsyncStreams, `count` times each way.
private func roundTrips(_ count: Int) async {
    let (requests, requestSink) = AsyncStream.makeStream(of: Int.self)
    let (replies, replySink) = AsyncStream.makeStream(of: Int.self)
    async let echo: Void = {
        for await value in requests { replySink.yield(value + 1) }
        replySink.finish()
    }()
    var iterator = replies.makeAsyncIterator()
    var value = 0
    for _ in 0..<count {
        requestSink.yield(value)
        value = await iterator.next() ?? value
    }
    requestSink.finish()
    await echo
    blackHole(value)
}
