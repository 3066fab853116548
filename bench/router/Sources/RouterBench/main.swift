// Lookup + dispatch on the 203 GitHub routes: median and fastest ns/op of 61 rounds, and mallocs per request.
// Run pinned: `cd bench/router && swift build -c release && taskset -c 1 .build/release/router-bench [filter]`
import Bolt
import CAllocCount
import Foundation

let file = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../../data/github_routes.txt")
let routes: [(HTTPMethod, String)] = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
    .filter { !$0.hasPrefix("#") }
    .map { line in
        let parts = line.split(separator: " ")
        return (HTTPMethod.allCases.first { $0.description == parts[0] }!, String(parts[1]))
    }

var builder = RouterBuilder()
for (value, (method, pattern)) in routes.enumerated() { try builder.add(method, pattern, value: value) }
let router = builder.compile()

/// The app's side of dispatch: a table of handlers indexed by the route's value.
let handlers: [(inout PathParameters) -> Int] = routes.map { _ in { $0.count &+ 1 } }

/// Looks up and dispatches each request `iterations` times per round; returns median ns per request.
@MainActor func measure(_ requests: [(HTTPMethod, String)], iterations: Int) -> (ns: Double, min: Double, allocations: Double) {
    var params = PathParameters()
    var sink = 0
    var rounds: [Double] = []
    rounds.reserveCapacity(61)
    let buffers = requests.map { UnsafeMutableRawBufferPointer.allocate(byteCount: $0.1.utf8.count, alignment: 1) }
    defer { buffers.forEach { $0.deallocate() } }
    for (buffer, request) in zip(buffers, requests) { buffer.copyBytes(from: request.1.utf8) }
    let views = zip(requests, buffers).map { ($0.0, ByteView(unsafeBytes: UnsafeRawBufferPointer($1))) }
    let allocationsBefore = bench_alloc_count()
    for _ in 0..<rounds.capacity {
        let start = ContinuousClock.now
        for _ in 0..<iterations {
            for (method, path) in views {
                if case .found(let value) = router.lookup(method, path: path, into: &params) {
                    sink &+= handlers[value](&params)
                } else {
                    fatalError("no route for \(path)")
                }
            }
        }
        let elapsed = ContinuousClock.now - start
        let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        rounds.append(ns / Double(iterations))
    }
    let allocations = Double(bench_alloc_count() - allocationsBefore) / Double(rounds.count * iterations * requests.count)
    precondition(sink != 0)
    rounds.sort()
    return (rounds[rounds.count / 2], rounds[0], allocations)
}

let cases: [(String, [(HTTPMethod, String)], Int)] = [
    ("static     GET /user/repos", [(.get, "/user/repos")], 100_000),
    ("1 param    GET /users/julienschmidt", [(.get, "/users/julienschmidt")], 100_000),
    ("2 params   GET /repos/julienschmidt/httprouter/stargazers",
     [(.get, "/repos/julienschmidt/httprouter/stargazers")], 100_000),
    ("4 params   DELETE /repos/julienschmidt/httprouter/issues/42/labels/bug",
     [(.delete, "/repos/julienschmidt/httprouter/issues/42/labels/bug")], 100_000),
    ("all 203    each route by its own pattern", routes, 500),
]
let filter = CommandLine.arguments.dropFirst().first ?? ""  // runs only the cases whose name contains it
for (name, requests, iterations) in cases where filter.isEmpty || name.contains(filter) {
    let result = measure(requests, iterations: iterations)
    let (scale, unit) = requests.count > 1 ? (1000.0, "µs") : (1.0, "ns")
    print(
        name.padding(toLength: 76, withPad: " ", startingAt: 0),
        String(format: "median %6.2f %@/op  min %6.2f  %.0f mallocs/request", result.ns / scale, unit, result.min / scale, result.allocations))
}
