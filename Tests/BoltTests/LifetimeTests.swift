// What a handler reads from its request stays the request's own across suspensions, on both backends and in
// process: every accessor read after an `await` (issue: request data gone after the first await).

import Bolt
import BoltTesting
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct Payload: Codable, Equatable {
    var name: String
    var n: Int
}

/// An app whose async routes read every request accessor after one or more suspensions.
func makeLifetimeApp(sink: MemorySink) -> App {
    let app = App()
    app.use(Logger(sink: sink, flushInterval: .seconds(3600)))
    app.get("/a/:x") { c async throws in
        try await Task.sleep(for: .milliseconds(5))
        c.text("path=\(c.path.string) ua=\(c.header("User-Agent") ?? "-")")
    }
    app.post("/every/:id/*rest") { c async throws in
        // Suspend a few times, and let other requests of the loop run meanwhile.
        try await Task.sleep(for: .milliseconds(2))
        await Task.yield()
        try await Task.sleep(for: .milliseconds(1))
        let payload = try c.decode(Payload.self)
        var parts: [String] = []
        parts.append("method=\(c.method)")
        parts.append("path=\(c.path.string)")
        parts.append("query=\(c.rawQuery.string)")
        parts.append("q=\(c.query("q") ?? "-")")
        parts.append("tags=\(c.queryValues("tag").joined(separator: ","))")
        parts.append("id=\(c.param("id") ?? "-")")
        parts.append("idBytes=\(c.paramBytes("id")?.string ?? "-")")
        parts.append("rest=\(c.param("rest") ?? "-")")
        parts.append("ua=\(c.header("user-agent") ?? "-")")
        parts.append("uaBytes=\(c.headerBytes("User-Agent")?.string ?? "-")")
        parts.append("fields=\(c.headers.count)")
        parts.append("cookie=\(c.cookie("session") ?? "-")")
        parts.append("body=\(c.bodyString)")
        parts.append("payload=\(payload.name):\(payload.n)")
        c.withRequest { r in
            parts.append("target=\(r.target.string)")
            parts.append("host=\(r.host?.string ?? "-")")
            parts.append("version=\(r.version)")
            parts.append("methodBytes=\(r.methodBytes.string)")
            parts.append("length=\(r.contentLength ?? -1)")
            parts.append("qp=\(r.queryParameter("q")?.string ?? "-")")
        }
        c.text(parts.joined(separator: " "))
    }
    app.get("/:slug") { c in c.text("slug") }
    return app
}

@Suite struct LifetimeTests {
    static let modes: [String] = ["in-process", "epoll", "uring"]

    func client(_ app: App, _ mode: String) throws -> TestClient? {
        switch mode {
        case "in-process": return try app.testClient()
        default:
            app.configuration.server.backend = mode == "epoll" ? .epoll : .uring
            do { return try app.testClient(.live) } catch {
                print("LifetimeTests: \(mode) unavailable here (\(error)); skipped")
                return nil
            }
        }
    }

    @Test(arguments: modes) func asyncHandlersReadTheirRequestAfterAnAwait(_ mode: String) throws {
        let sink = MemorySink()
        let app = makeLifetimeApp(sink: sink)
        guard let client = try client(app, mode) else { return }
        let short = try client.send(.get, "/a/123", headers: [("User-Agent", "agent-1")])
        #expect(short.text == "path=/a/123 ua=agent-1")
        for i in 0..<20 {
            let body = #"{"name":"n\#(i)","n":\#(i)}"#
            let response = try client.send(
                .post, "/every/\(i)/x/y%20z?q=swift&tag=a&tag=b\(i)",
                headers: [("User-Agent", "agent-\(i)"), ("Cookie", "session=s\(i); theme=dark"),
                          ("Content-Type", "application/json")],
                body: Array(body.utf8))
            let expected = [
                "method=POST", "path=/every/\(i)/x/y%20z", "query=q=swift&tag=a&tag=b\(i)", "q=swift", "tags=a,b\(i)",
                "id=\(i)", "idBytes=\(i)", "rest=x/y z", "ua=agent-\(i)", "uaBytes=agent-\(i)", "fields=5",
                "cookie=s\(i)", "body=\(body)", "payload=n\(i):\(i)",
                "target=/every/\(i)/x/y%20z?q=swift&tag=a&tag=b\(i)", "host=test", "version=HTTP/1.1",
                "methodBytes=POST", "length=\(body.utf8.count)", "qp=swift",
            ].joined(separator: " ")
            #expect(response.status == .ok)
            #expect(response.text == expected)
            // A synchronous request between two async ones reuses the loop's buffers and contexts.
            #expect(try client.send(.get, "/other-\(i)").text == "slug")
        }
        let logger = app.configuration  // keep the app alive until here
        _ = logger
    }

    @Test(arguments: modes) func theAccessLogRecordsAsyncRequestsAsSent(_ mode: String) throws {
        let sink = MemorySink()
        let app = App()
        let logger = Logger(sink: sink, flushInterval: .seconds(3600))
        app.use(logger)
        app.get("/a/:x") { c async throws in
            try await Task.sleep(for: .milliseconds(2))
            c.text("x")
        }
        guard let client = try client(app, mode) else { return }
        #expect(try client.send(.get, "/a/123").text == "x")
        // The record is made on the loop thread after the response went out, so the client can see the answer
        // before it exists (epoll sends at once): wait for it a little while.
        var last: String? = nil
        for _ in 0..<200 where last == nil {
            logger.flush()
            last = sink.lines.withLock { $0.last }
            if last == nil { usleep(10_000) }
        }
        let line = try #require(last)
        #expect(line.contains("method=GET path=/a/123"), "\(line)")
    }
}

/// A context a handler kept, for the misuse tests.
final class KeptContexts: @unchecked Sendable {
    var contexts: [Context] = []
}

@Suite struct ContextMisuseTests {
    @Test func aContextKeptAfterItsRequestIsNeverHandedToAnotherRequest() throws {
        let app = App()
        let kept = KeptContexts()
        app.get("/keep") { c in
            kept.contexts.append(c)  // misuse: the context escapes its handler
            c.text("kept")
        }
        app.get("/who") { c in c.text("\(ObjectIdentifier(c).hashValue)") }
        app.get("/in-use") { c in c.text("\(c.contextsInUseOnThisLoop)") }
        let client = try app.testClient()
        #expect(try client.send(.get, "/keep").text == "kept")
        #expect(try client.send(.get, "/keep").text == "kept")
        let ids = Set(kept.contexts.map { ObjectIdentifier($0).hashValue })
        #expect(ids.count == 2, "the pool handed a kept context to the next request")
        for _ in 0..<5 {
            let who = try client.send(.get, "/who").text
            #expect(!ids.contains(Int(who) ?? 0), "a request was answered with a context a handler kept")
        }
        // a retired context no longer counts as the pool's
        #expect(try client.send(.get, "/in-use").text == "1")
    }

    @Test func aKeptContextTrapsWhenUsedAfterItsRequest() async {
        await #expect(processExitsWith: .failure) {
            let app = App()
            let kept = KeptContexts()
            app.get("/users/:id") { c in
                kept.contexts.append(c)
                c.text("ok")
            }
            let client = try app.testClient()
            _ = try client.send(.get, "/users/7")
            _ = kept.contexts[0].param("id")  // the request ended: traps
        }
        await #expect(processExitsWith: .failure) {
            let app = App()
            let kept = KeptContexts()
            app.get("/users/:id") { c in
                kept.contexts.append(c)
                c.text("ok")
            }
            let client = try app.testClient()
            _ = try client.send(.get, "/users/7")
            kept.contexts[0].text("late")  // writing after the request: traps
        }
    }
}

final class KeptNext: @unchecked Sendable {
    var next: Next?
}

extension ContextMisuseTests {
    @Test func aNextKeptPastItsMiddlewareTraps() async {
        await #expect(processExitsWith: .failure) {
            let app = App()
            let kept = KeptNext()
            app.use { c, next in
                kept.next = next
                try next()
            }
            app.get("/") { c in c.text("ok") }
            let client = try app.testClient()
            _ = try client.send(.get, "/")
            try kept.next?()  // the request ended: traps instead of running the chain on a dead context
        }
    }

    @Test func theTestClientRefusesToSendOtherAsGET() throws {
        let app = App()
        app.get("/") { c in c.text("GET") }
        let client = try app.testClient()
        #expect(throws: TestClientError.self) { try client.send(.other, "/") }
    }
}

@Suite struct RedirectSafetyTests {
    @Test func theTrailingSlashRedirectNeverPointsAtAnotherHost() throws {
        let app = App()
        app.get("/:slug") { c in c.text("slug \(c.param("slug") ?? "")") }
        app.get("/docs/:page") { c in c.text("page") }
        let client = try app.testClient()
        for path in ["/\\evil.example/", "/%5Cevil.example/", "//evil.example/", "/\\/evil.example/"] {
            let response = try client.send(.get, path)
            let location = response.header("Location") ?? ""
            #expect(!location.hasPrefix("//") && !location.hasPrefix("/\\"), "\(path) -> \(location)")
            #expect(response.status != .movedPermanently || location.first == "/", "\(path): \(response)")
        }
        let bad = try client.send(.get, "/\\evil.example/")
        #expect(bad.status == .notFound)
        // ordinary redirects still work
        let good = try client.send(.get, "/hello/")
        #expect(good.status == .movedPermanently)
        #expect(good.header("Location") == "/hello")
        #expect(try client.send(.get, "/docs/intro/?x=1").header("Location") == "/docs/intro?x=1")
    }
}
