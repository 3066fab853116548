// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Shockwave",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Shockwave", targets: ["Shockwave"]),
        .library(name: "Bolt", targets: ["Bolt"]),
        .library(name: "BoltTesting", targets: ["BoltTesting"]),
        .executable(name: "shockwave-hello", targets: ["ShockwaveHello"]),
        .executable(name: "bolt-hello", targets: ["BoltHello"]),
        .executable(name: "todo-api", targets: ["TodoServer"]),
    ],
    targets: [
        // liburing, found through pkg-config (Debian: liburing-dev). Only the io_uring backend uses it;
        // the epoll fallback is chosen at run time where io_uring is unavailable.
        .systemLibrary(
            name: "CLibUring",
            pkgConfig: "liburing",
            providers: [.apt(["liburing-dev"])]
        ),
        // The C core: parser, SIMD scanners, tables, event loops. C11; no -march: the SIMD kernels carry
        // target attributes and are chosen at run time.
        .target(
            name: "CShockwave",
            dependencies: ["CLibUring"],
            cSettings: [.define("_GNU_SOURCE"), .define("SW_HAVE_URING")]
        ),
        .target(name: "Shockwave", dependencies: ["CShockwave"]),
        .target(name: "Bolt", dependencies: ["Shockwave"]),
        .target(name: "BoltTesting", dependencies: ["Bolt"]),
        .executableTarget(name: "ShockwaveHello", dependencies: ["Shockwave"], path: "Sources/Examples/ShockwaveHello"),
        .executableTarget(name: "BoltHello", dependencies: ["Bolt"], path: "Sources/Examples/BoltHello"),
        // The realistic example: a todo REST API (library, so its tests can use it) and its server.
        .target(name: "TodoAPI", dependencies: ["Bolt"], path: "Sources/Examples/TodoAPI"),
        .executableTarget(name: "TodoServer", dependencies: ["TodoAPI"], path: "Sources/Examples/TodoServer"),
        .testTarget(name: "TodoAPITests", dependencies: ["TodoAPI", "BoltTesting"]),
        .testTarget(name: "CShockwaveTests", dependencies: ["CShockwave"]),
        .testTarget(name: "ShockwaveTests", dependencies: ["Shockwave"]),
        .testTarget(name: "BoltTests", dependencies: ["Bolt", "BoltTesting"]),
        // Counts mallocs on loop threads for the zero-allocation tests (interposes malloc; off under sanitizers).
        .target(name: "CMallocCounter", dependencies: ["CShockwave"], path: "Tests/CMallocCounter"),
        .testTarget(name: "ShockwaveAllocationTests", dependencies: ["Shockwave", "Bolt", "CMallocCounter"]),
    ],
    swiftLanguageModes: [.v6],
    cLanguageStandard: .c11
)
