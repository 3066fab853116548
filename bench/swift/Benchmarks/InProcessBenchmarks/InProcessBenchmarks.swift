// In process, no sockets: Bolt gets raw request bytes and gives raw response bytes (real parser, router, context,
// middleware, handler, serializer); Hummingbird and Vapor are driven through their responders (no HTTP parsing or
// serialization counted for them — see bench/README.md). One iteration is 1,000 requests (scalingFactor .kilo);
// figures are per request. Also the raw Shockwave handler for the same static response (the overhead baseline).
//   swift package --package-path bench/swift benchmark --target InProcessBenchmarks
import Benchmark
import BenchWorkloads

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .instructions],
        timeUnits: .nanoseconds,
        warmupIterations: 3,
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 2_000
    )
    let raw = PerThread { try RawShockwave.workload() }
    Benchmark("inprocess static · raw Shockwave") { benchmark in
        let w = try raw.get()
        blackHole(w.run(benchmark.scaledIterations.count))
    }
    for routeCase in InProcessCase.shared {
        let bolt = PerThread { try InProcessWorkload(bolt: routeCase) }
        Benchmark("inprocess \(routeCase.name) · Bolt") { benchmark in
            let w = try bolt.get()
            blackHole(w.run(benchmark.scaledIterations.count))
        }
        if let asyncCase = InProcessCase.boltAsync.first(where: { $0.name == "async-" + routeCase.name }) {
            let boltAsync = PerThread { try InProcessWorkload(bolt: asyncCase) }
            Benchmark("inprocess \(routeCase.name) · Bolt async handler") { benchmark in
                let w = try boltAsync.get()
                blackHole(w.run(benchmark.scaledIterations.count))
            }
        }
        let hummingbird = HummingbirdInProcessWorkload(routeCase)
        Benchmark("inprocess \(routeCase.name) · Hummingbird responder") { benchmark async throws in
            blackHole(try await hummingbird.run(benchmark.scaledIterations.count))
        }
        let vapor = PerThread { VaporInProcessWorkload(routeCase) }
        Benchmark("inprocess \(routeCase.name) · Vapor responder") { benchmark in
            let w = try vapor.get()
            blackHole(w.run(benchmark.scaledIterations.count))
        }
    }
}
