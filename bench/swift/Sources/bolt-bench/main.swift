// The tight-loop runner: each case runs in rounds of `n` operations (n calibrated so a round takes ~20 ms),
// ContinuousClock around each round, the median and fastest ns/op over the rounds, and mallocs per operation
// counted by an interposed malloc over a separate run. Run pinned to one core (see bench/README.md):
//
//   taskset -c 1 .build/release/bolt-bench router|inprocess|overhead [filter]
//   taskset -c 0,1 .build/release/bolt-bench concurrent [filter]
//
// BENCH_ROUNDS (default 31) and BENCH_ROUND_MS (default 20) change the rounds.
import BenchWorkloads
import CBenchSupport
import Foundation

let rounds = Int(ProcessInfo.processInfo.environment["BENCH_ROUNDS"] ?? "") ?? 31
let roundTarget = Duration.milliseconds(Int(ProcessInfo.processInfo.environment["BENCH_ROUND_MS"] ?? "") ?? 20)
let arguments = CommandLine.arguments.dropFirst()
let group = arguments.first ?? "all"
let filter = arguments.dropFirst().first ?? ""

struct Measurement: Sendable {
    var median: Double  // ns per operation
    var fastest: Double
    var mallocs: Double  // per operation
}

func nanoseconds(_ d: Duration) -> Double {
    Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9
}

/// Rounds of `n` operations: median and fastest ns/op, then mallocs/op over one more round.
func measure(_ run: (Int) -> Int) -> Measurement {
    var sink = run(1)
    var n = 1
    while true {  // calibrate: double until a round takes a quarter of the target, then scale
        let start = ContinuousClock.now
        sink &+= run(n)
        let elapsed = ContinuousClock.now - start
        if elapsed * 4 >= roundTarget || n >= 1 << 30 {
            n = max(1, Int(Double(n) * nanoseconds(roundTarget) / max(nanoseconds(elapsed), 1)))
            break
        }
        n *= 2
    }
    var perOp: [Double] = []
    for _ in 0..<rounds {
        let start = ContinuousClock.now
        sink &+= run(n)
        perOp.append(nanoseconds(ContinuousClock.now - start) / Double(n))
    }
    let before = bench_alloc_count()
    sink &+= run(n)
    let mallocs = Double(bench_alloc_count() - before) / Double(n)
    precondition(sink != 0)
    perOp.sort()
    return Measurement(median: perOp[perOp.count / 2], fastest: perOp[0], mallocs: mallocs)
}

/// The same for an async loop.
func measureAsync(_ run: (Int) async throws -> Int) async throws -> Measurement {
    var sink = try await run(1)
    var n = 1
    while true {
        let start = ContinuousClock.now
        sink &+= try await run(n)
        let elapsed = ContinuousClock.now - start
        if elapsed * 4 >= roundTarget || n >= 1 << 30 {
            n = max(1, Int(Double(n) * nanoseconds(roundTarget) / max(nanoseconds(elapsed), 1)))
            break
        }
        n *= 2
    }
    var perOp: [Double] = []
    for _ in 0..<rounds {
        let start = ContinuousClock.now
        sink &+= try await run(n)
        perOp.append(nanoseconds(ContinuousClock.now - start) / Double(n))
    }
    let before = bench_alloc_count()
    sink &+= try await run(n)
    let mallocs = Double(bench_alloc_count() - before) / Double(n)
    precondition(sink != 0)
    perOp.sort()
    return Measurement(median: perOp[perOp.count / 2], fastest: perOp[0], mallocs: mallocs)
}

func format(_ ns: Double) -> String {
    if ns >= 100_000 { return String(format: "%.0f µs", ns / 1000) }
    if ns >= 10_000 { return String(format: "%.1f µs", ns / 1000) }
    if ns >= 1000 { return String(format: "%.2f µs", ns / 1000) }
    return String(format: "%.1f ns", ns)
}

func mallocText(_ m: Double) -> String { m == m.rounded() ? String(format: "%.0f", m) : String(format: "%.3f", m) }

func printHeader(_ title: String) {
    print("\n### \(title)\n")
    print("| case | framework | median/op | fastest/op | mallocs/op |")
    print("|---|---|---:|---:|---:|")
}

func report(_ caseName: String, _ framework: String, _ r: Measurement) {
    print("| \(caseName) | \(framework) | \(format(r.median)) | \(format(r.fastest)) | \(mallocText(r.mallocs)) |")
    flushOutput()
}

func selected(_ name: String) -> Bool { filter.isEmpty || name.contains(filter) }

func machineLine() -> String {
    let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.split(separator: "\n")
        .first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "?"
    return "CPU: \(cpu); \(ProcessInfo.processInfo.activeProcessorCount) CPUs online; rounds: \(rounds) × ~\(roundTarget)"
}

// MARK: groups

func routerGroup() throws {
    printHeader("Router: lookup + parameters + dispatch, GitHub API (203 routes)")
    for routerCase in RouterCase.all where selected(routerCase.name) {
        let bolt = try BoltRouterWorkload(routerCase)
        report(routerCase.name, "Bolt", measure(bolt.run))
        let hummingbird = HummingbirdRouterWorkload(routerCase)
        report(routerCase.name, "Hummingbird trie", measure(hummingbird.run))
        let routingKit = RoutingKitWorkload(routerCase)
        report(routerCase.name, "RoutingKit", measure(routingKit.run))
    }
}

func inProcessGroup() async throws {
    printHeader("In process: request in, response out (Bolt: raw bytes through parser and serializer)")
    for routeCase in InProcessCase.shared where selected(routeCase.name) {
        let bolt = try InProcessWorkload(bolt: routeCase)
        report(routeCase.name, "Bolt (\(bolt.responseLength) B out)", measure(bolt.run))
        if routeCase.name == "static" || routeCase.name == "params2" {
            let asyncCase = routeCase.name == "static" ? InProcessCase.asyncStatic : InProcessCase.asyncParams2
            let boltAsync = try InProcessWorkload(bolt: asyncCase)
            report(routeCase.name, "Bolt, async handler", measure(boltAsync.run))
        }
        let hummingbird = HummingbirdInProcessWorkload(routeCase)
        let hb = try await hummingbird.check()
        precondition(hb.status == 200 && hb.bodyBytes > 0, "Hummingbird answered \(hb)")
        report(routeCase.name, "Hummingbird (responder)", try await measureAsync(hummingbird.run))
        let vapor = VaporInProcessWorkload(routeCase)
        let v = vapor.check()
        precondition(v.status == 200 && v.bodyBytes > 0, "Vapor answered \(v)")
        report(routeCase.name, "Vapor (responder)", measure(vapor.run))
    }
}

func overheadGroup() throws {
    printHeader("Overhead: raw Shockwave handler vs Bolt, static route, same bytes out")
    let raw = try RawShockwave.workload()
    let bolt = try InProcessWorkload(bolt: .staticRoute)
    precondition(raw.responseLength == bolt.responseLength, "raw \(raw.responseLength) B vs Bolt \(bolt.responseLength) B")
    report("static", "raw Shockwave (ClosureHandler)", measure(raw.run))
    report("static", "Bolt", measure(bolt.run))
}

/// Runs `body` on a new thread pinned to `cpu`; returns when it finishes.
func onThread<T: Sendable>(cpu: Int, _ body: @escaping @Sendable () throws -> T) -> T {
    let box = Box<T>()
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
        let pinned = bench_pin_thread(Int32(cpu))
        if pinned != 0 { FileHandle.standardError.write("could not pin to CPU \(cpu) (errno \(pinned))\n".data(using: .utf8)!) }
        box.value = Swift.Result { try body() }
        done.signal()
    }
    thread.stackSize = 8 << 20
    thread.start()
    done.wait()
    return try! box.value!.get()
}

final class Box<T>: @unchecked Sendable { var value: Swift.Result<T, any Error>? }

/// Two threads, each with its own in-process server of the same app, start together after a barrier and run the
/// same rounds; per-thread medians next to one thread alone on the same CPU.
func concurrentGroup() throws {
    print("\n### Concurrent: 2 threads (CPUs 0 and 1), each its own in-process server of the same Bolt app\n")
    print("| case | run | median/op | fastest/op | mallocs/op | vs 1 thread |")
    print("|---|---|---:|---:|---:|---:|")
    // "raw" is the control: a raw Shockwave server per thread (nothing shared between the threads)
    let raw = InProcessCase(name: "raw", method: "GET", path: "/plaintext", async: false)
    @Sendable func make(_ routeCase: InProcessCase) throws -> InProcessWorkload {
        routeCase.name == "raw" ? try RawShockwave.workload() : try InProcessWorkload(bolt: routeCase)
    }
    for routeCase in [raw, InProcessCase.staticRoute, .params2] where selected(routeCase.name) {
        let single = onThread(cpu: 1) { () throws -> Measurement in
            let w = try make(routeCase)
            return measure(w.run)
        }
        print("| \(routeCase.name) | 1 thread (CPU 1) | \(format(single.median)) | \(format(single.fastest)) | \(mallocText(single.mallocs)) | |")
        // both threads: fixed n (from the single run), same number of rounds, barrier before each round
        let n = max(1, Int(nanoseconds(roundTarget) / single.median))
        let barrier = Barrier(2)
        let results = Box<[Int: [Double]]>()
        results.value = .success([:])
        let lock = NSLock()
        let done = DispatchSemaphore(value: 0)
        let mallocsBefore = Atomic(), mallocsAfter = Atomic()
        for cpu in 0..<2 {
            let thread = Thread {
                _ = bench_pin_thread(Int32(cpu))
                let w = try! make(routeCase)
                _ = w.run(n)  // warm
                var perOp: [Double] = []
                perOp.reserveCapacity(rounds)
                barrier.wait()
                if cpu == 0 { mallocsBefore.value = bench_alloc_count() }
                barrier.wait()
                for _ in 0..<rounds {
                    barrier.wait()
                    let start = ContinuousClock.now
                    _ = w.run(n)
                    perOp.append(nanoseconds(ContinuousClock.now - start) / Double(n))
                }
                barrier.wait()
                if cpu == 0 { mallocsAfter.value = bench_alloc_count() }
                barrier.wait()
                lock.lock()
                var all = try! results.value!.get()
                all[cpu] = perOp.sorted()
                results.value = .success(all)
                lock.unlock()
                done.signal()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        done.wait()
        done.wait()
        let mallocs = Double(mallocsAfter.value - mallocsBefore.value) / Double(2 * rounds * n)
        for (cpu, perOp) in try results.value!.get().sorted(by: { $0.key < $1.key }) {
            let median = perOp[perOp.count / 2]
            let change = (median / single.median - 1) * 100
            print("| \(routeCase.name) | 2 threads: thread on CPU \(cpu) | \(format(median)) | \(format(perOp[0])) | \(mallocText(mallocs)) | \(String(format: "%+.1f%%", change)) |")
        }
        flushOutput()
    }
}

final class Atomic: @unchecked Sendable { var value: UInt64 = 0 }

/// A reusable barrier for `count` threads.
final class Barrier: @unchecked Sendable {
    private let condition = NSCondition()
    private let count: Int
    private var waiting = 0
    private var generation = 0
    init(_ count: Int) { self.count = count }
    func wait() {
        condition.lock()
        let mine = generation
        waiting += 1
        if waiting == count {
            waiting = 0
            generation += 1
            condition.broadcast()
        } else {
            while mine == generation { condition.wait() }
        }
        condition.unlock()
    }
}

print(machineLine())
switch group {
case "router": try routerGroup()
case "inprocess": try await inProcessGroup()
case "overhead": try overheadGroup()
case "concurrent": try concurrentGroup()
case "profile":  // fixed work for callgrind: bolt-bench profile raw|static|params2|middleware3|json|async-static N
    let name = filter.isEmpty ? "static" : filter
    let n = Int(arguments.dropFirst(2).first ?? "") ?? 10_000
    let all = InProcessCase.shared + InProcessCase.boltAsync
    let w = try name == "raw" ? RawShockwave.workload() : InProcessWorkload(bolt: all.first { $0.name == name }!)
    print("profile \(name): \(n) requests, \(w.responseLength) B each")
    print(profiledRun(w, n))
case "all":
    try routerGroup()
    try await inProcessGroup()
    try overheadGroup()
    try concurrentGroup()
default:
    print("usage: bolt-bench router|inprocess|overhead|concurrent|all [case filter]")
    exit(2)
}

func flushOutput() { fflush(nil) }

/// The loop callgrind measures (`--toggle-collect='*profiledRun*'`).
@inline(never) func profiledRun(_ w: InProcessWorkload, _ n: Int) -> Int { w.run(n) }
