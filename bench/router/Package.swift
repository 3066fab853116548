// swift-tools-version:6.1
// The router's quick measurement: ns per lookup + dispatch on the GitHub route set, and mallocs per lookup.
// Its own package, so the main package keeps no dependencies and no benchmark targets.
import PackageDescription

let package = Package(
    name: "RouterBench",
    dependencies: [.package(name: "Shockwave", path: "../..")],
    targets: [
        // Counts every malloc in the process (interposes malloc/calloc/realloc; forwards to glibc).
        .target(name: "CAllocCount"),
        .executableTarget(
            name: "router-bench",
            dependencies: [.product(name: "Bolt", package: "Shockwave"), "CAllocCount"],
            path: "Sources/RouterBench"
        ),
    ],
    swiftLanguageModes: [.v6]
)
