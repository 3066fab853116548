// Router lookup + parameter extraction + dispatch on the 203 GitHub API routes: Bolt, Hummingbird's trie and
// RoutingKit (as Vapor drives it). One iteration is 1,000 operations (scalingFactor .kilo), so the harness's
// per-iteration cost (and its own mallocs) is spread over them; figures are per operation.
//   swift package --package-path bench/swift benchmark --target RouterBenchmarks
import Benchmark
import BenchWorkloads

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .instructions],
        timeUnits: .nanoseconds,
        warmupIterations: 3,
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )
    for routerCase in RouterCase.all {
        // all 203 routes per operation: still 1,000 operations per iteration (with one per iteration the harness's
        // own 16 mallocs per iteration would show), so fewer iterations for the slow peers
        let configuration: Benchmark.Configuration? =
            routerCase.requests.count > 1
            ? .init(metrics: Benchmark.defaultConfiguration.metrics, timeUnits: .microseconds, warmupIterations: 1,
                scalingFactor: .kilo, maxDuration: .seconds(4), maxIterations: 200) : nil
        let bolt = try! BoltRouterWorkload(routerCase)
        Benchmark("router \(routerCase.name) · Bolt", configuration: configuration ?? Benchmark.defaultConfiguration) { benchmark in
            blackHole(bolt.run(benchmark.scaledIterations.count))
        }
        let hummingbird = HummingbirdRouterWorkload(routerCase)
        Benchmark("router \(routerCase.name) · Hummingbird trie", configuration: configuration ?? Benchmark.defaultConfiguration) { benchmark in
            blackHole(hummingbird.run(benchmark.scaledIterations.count))
        }
        let routingKit = RoutingKitWorkload(routerCase)
        Benchmark("router \(routerCase.name) · RoutingKit", configuration: configuration ?? Benchmark.defaultConfiguration) { benchmark in
            blackHole(routingKit.run(benchmark.scaledIterations.count))
        }
    }
}
