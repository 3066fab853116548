// How an app runs and stops: an async run that leaves the main actor free, a started server the app keeps.

import Bolt
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A port the kernel just gave out and took back (free unless another process takes it meanwhile).
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
            bind(fd, p, length) == 0 ? getsockname(fd, p, &length) : -1
        }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// The body of `GET path`, or nil when the server does not answer within `ms` (retrying the connect while it
/// starts).
func get(_ port: Int, _ path: String, within ms: Int32 = 3000) -> String? {
    for _ in 0..<100 {
        guard let connection = try? RawConnection(port: port) else {
            usleep(20_000)
            continue
        }
        connection.send("GET \(path) HTTP/1.1\r\nHost: t\r\n\r\n")
        return connection.response(within: ms)?.body
    }
    return nil
}

@MainActor final class MainActorCounter {
    static let shared = MainActorCounter()
    var count = 0
    func next() -> Int {
        count += 1
        return count
    }
}

@Suite(.serialized) struct AppLifecycleTests {
    @Test func asyncRunLeavesTheMainActorFreeAndStopsWhenCancelled() async throws {
        let app = App()
        app.get("/main") { c async in
            let n = await MainActorCounter.shared.next()
            c.text("main \(n)")
        }
        let port = freePort()
        app.configuration.server = ServerConfiguration(host: "127.0.0.1", port: port, loops: 1)
        let running = Task { try await app.run(shutdownDeadline: .seconds(1)) }
        let body = await Task.detached { get(port, "/main") }.value
        #expect(body == "main 1")
        running.cancel()
        try await running.value  // returns once the server has shut down
        #expect(await Task.detached { get(port, "/main", within: 200) }.value == nil)
    }

    @Test func aStartedServerKeepsRunningWhenTheResultIsDiscarded() throws {
        let app = App()
        app.get("/up") { c in c.text("up") }
        let port = freePort()
        app.configuration.server = ServerConfiguration(host: "127.0.0.1", port: port, loops: 1)
        try app.start()  // result discarded
        #expect(get(port, "/up") == "up")
        app.shutdown(deadline: .seconds(1))
        app.wait()
        #expect(get(port, "/up", within: 200) == nil)
    }
}
