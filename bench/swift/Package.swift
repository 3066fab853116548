// swift-tools-version:6.1
// Bolt's Swift benchmarks with its peers side by side: the router on the GitHub API routes (Bolt, Hummingbird's
// trie, RoutingKit), the in-process request path (Bolt, Hummingbird, Vapor), Bolt on two threads, and the raw
// Shockwave vs Bolt overhead split. Its own package, so the main package keeps zero dependencies.
//
//   swift package --package-path bench/swift benchmark                 # package-benchmark, malloc counts
//   swift build --package-path bench/swift -c release --product bolt-bench && taskset -c 1 bench/swift/.build/release/bolt-bench router
//
// See bench/README.md for every command and what each figure includes.
import PackageDescription

let package = Package(
    name: "BoltBench",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "Shockwave", path: "../.."),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/vapor/vapor", exact: "4.122.3"),
        .package(url: "https://github.com/vapor/routing-kit", exact: "4.9.3"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The workloads, shared by both runners: each case does `n` requests per call, so neither runner pays a
        // call per request.
        .target(
            name: "BenchWorkloads",
            dependencies: [
                .product(name: "Bolt", package: "Shockwave"),
                .product(name: "Shockwave", package: "Shockwave"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Vapor", package: "vapor"),
                .product(name: "RoutingKit", package: "routing-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        // Counts every malloc in the process (interposes malloc/calloc/realloc/memalign; forwards to glibc).
        // Only the custom runner links it (package-benchmark brings its own interposer).
        .target(name: "CBenchSupport"),
        // The tight-loop runner: ContinuousClock, medians over rounds, mallocs per request, two-thread runs.
        .executableTarget(name: "bolt-bench", dependencies: ["BenchWorkloads", "CBenchSupport"]),
        // Live-server peers for the wrk harness (bench/run-peers.sh): the routes of bench/server/fasthttp, one event
        // loop each, `--port P --host H`. See bench/README.md.
        .executableTarget(
            name: "hummingbird-hello",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "vapor-hello",
            dependencies: [
                .product(name: "Vapor", package: "vapor"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "nio-hello",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // package-benchmark suites (`swift package benchmark`), with its malloc counter.
        .executableTarget(
            name: "RouterBenchmarks",
            dependencies: ["BenchWorkloads", .product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/RouterBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "InProcessBenchmarks",
            dependencies: ["BenchWorkloads", .product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/InProcessBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
