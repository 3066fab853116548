// Bolt through BoltTesting: the real parser, router, middleware and serializer, in process (and live once).

import Bolt
import BoltTesting
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct User: Codable, Equatable {
    var id: Int
    var name: String
    var tags: [String] = []
    var score: Double? = nil
}

enum TraceKey: ContextKey { typealias Value = [String] }

/// Appends its name to the trace on the way in and out (a response header shows the order).
struct Tracer: Middleware, AsyncMiddleware {
    let name: String
    func handle(_ c: Context, next: Next) throws {
        c[TraceKey.self, default: []].append(name)
        try next()
    }
    func handle(_ c: Context, next: AsyncNext) async throws {
        c[TraceKey.self, default: []].append(name)
        try await next()
    }
}

extension Context {
    subscript<Key: ContextKey>(key: Key.Type, default value: Key.Value) -> Key.Value {
        get { self[key] ?? value }
        set { self[key] = newValue }
    }
}

func makeApp() -> App {
    let app = App()
    app.get("/") { c in c.text("root") }
    app.get("/users/new") { c in c.text("new user form") }
    app.get("/users/:id") { c in c.text("user \(c.param("id") ?? "-")") }
    app.get("/users/:id/posts/:post") { c in c.text("\(c.param("id")!)/\(c.param("post")!)") }
    app.get("/files/*path") { c in c.text("file [\(c.param("path")!)]") }
    app.post("/users") { c in
        var user = try c.decode(User.self)
        user.id = 7
        try c.json(user, status: .created)
    }
    app.put("/users/:id") { c in c.text("put \(c.param("id")!)") }
    app.get("/async/:n") { c async throws in
        try await Task.sleep(for: .milliseconds(1))
        c.text("async \(c.param("n")!)")
    }
    app.get("/query") { c in
        c.text("q=\(c.query("q") ?? "-") all=\(c.queryValues("tag").joined(separator: ",")) empty=\(c.query("e") ?? "nil")")
    }
    app.get("/cookie") { c in c.text("session=\(c.cookie("session") ?? "-") theme=\(c.cookie("theme") ?? "-")") }
    app.get("/header") { c in c.text("agent=\(c.header("user-agent") ?? "-")") }
    app.post("/form") { c in c.text("name=\(c.formValue("name") ?? "-") city=\(c.formValue("city") ?? "-")") }
    app.get("/teapot") { _ in throw HTTPError(418, "short and stout") }
    app.get("/secret-failure") { _ in
        struct Internal: Error {}
        throw Internal()
    }
    app.get("/headers-then-status") { c in
        try c.setHeader("X-First", "1")
        try c.setCookie(Cookie(name: "s", value: "a b"))
        c.status = .accepted
        c.text("ok")
    }
    app.get("/redirect") { c in try c.redirect(to: "/users/1", status: .seeOther) }
    app.get("/empty") { c in c.noContent() }
    app.any("/any") { c in c.text("any \(c.method)") }
    let api = app.group("/api", Tracer(name: "api"))
    let v1 = api.group("v1", Tracer(name: "v1"))
    v1.get("/trace") { c in c.text((c[TraceKey.self] ?? []).joined(separator: ">")) }
    app.use(Tracer(name: "global"))
    return app
}

@Suite struct RoutingTests {
    let app = makeApp()

    @Test func routesStaticParamAndWildcardSegments() throws {
        #expect(try app.test(.get, "/").text == "root")
        #expect(try app.test(.get, "/users/new").text == "new user form")
        #expect(try app.test(.get, "/users/42").text == "user 42")
        #expect(try app.test(.get, "/users/42/posts/9").text == "42/9")
        #expect(try app.test(.get, "/files/a/b/c.txt").text == "file [a/b/c.txt]")
        #expect(try app.test(.get, "/files/").text == "file []")
        #expect(try app.test(.put, "/users/5", body: "x").text == "put 5")
    }

    @Test func decodesParametersByOneRuleAndNeverSplitsOnAnEncodedSlash() throws {
        #expect(try app.test(.get, "/users/a%2Fb").text == "user a/b")
        #expect(try app.test(.get, "/users/caf%C3%A9").text == "user café")
        #expect(try app.test(.get, "/users/a+b").text == "user a+b")
        #expect(try app.test(.get, "/users/100%").text == "user 100%")
    }

    @Test func answers404And405WithAllowThroughTheGlobalMiddleware() throws {
        let missing = try app.test(.get, "/nowhere")
        #expect(missing.status == .notFound)
        #expect(missing.text == #"{"error":"Not Found"}"#)
        #expect(missing.header("Content-Type") == "application/json")
        let wrong = try app.test(.delete, "/users/3")
        #expect(wrong.status == .methodNotAllowed)
        #expect(wrong.header("Allow") == "GET, HEAD, PUT")
        #expect(wrong.text == #"{"error":"Method Not Allowed"}"#)
    }

    @Test func servesHeadFromGetRoutesAndAnyMethodRoutes() throws {
        let head = try app.test(.head, "/users/42")
        #expect(head.status == .ok)
        #expect(head.header("Content-Length") == "7")
        #expect(head.body.isEmpty)
        #expect(try app.test(.patch, "/any", body: "x").text == "any PATCH")
        #expect(try app.test(.get, "/any").text == "any GET")
    }

    @Test func redirectsATrailingSlashKeepingTheQuery() throws {
        let get = try app.test(.get, "/users/42/?a=1")
        #expect(get.status == .movedPermanently)
        #expect(get.header("Location") == "/users/42?a=1")
        let post = try app.test(.post, "/users/", body: "{}")
        #expect(post.status == .permanentRedirect)
        #expect(post.header("Location") == "/users")
    }

    @Test func runsAsyncRoutesInATask() throws {
        let client = try app.testClient()
        for n in 0..<3 { #expect(try client.send(.get, "/async/\(n)").text == "async \(n)") }
        #expect(try client.send(.get, "/users/1").text == "user 1")
    }

    @Test func runsGlobalThenGroupMiddlewareInOrder() throws {
        #expect(try app.test(.get, "/api/v1/trace").text == "global>api>v1")
    }

    @Test func reportsConflictingRoutesNamingBoth() throws {
        let app = App()
        app.get("/users/:id") { c in c.text("a") }
        app.get("/users/:name") { c in c.text("b") }
        #expect {
            try app.test(.get, "/users/1")
        } throws: { error in
            let text = "\(error)"
            return text.contains("/users/:id") && text.contains("/users/:name")
        }
    }

    @Test func refusesASyncOnlyMiddlewareInFrontOfAnAsyncRoute() throws {
        let app = App()
        app.use { c, next in try next() }
        app.get("/a") { c async in c.text("a") }
        #expect {
            try app.test(.get, "/a")
        } throws: { error in
            "\(error)".contains("GET /a") && "\(error)".contains("ClosureMiddleware")
        }
    }

    @Test func anAsyncClosureMiddlewareMakesSyncRoutesRunInATask() throws {
        let app = App()
        app.use { c, next async throws in
            try await next()
        }
        app.get("/a") { c in c.text("a") }
        #expect(try app.test(.get, "/a").text == "a")
    }
}

@Suite struct ContextTests {
    let app = makeApp()

    @Test func readsQueryCookiesHeadersAndForms() throws {
        #expect(try app.test(.get, "/query?q=a+b%21&tag=x&tag=y&e").text == "q=a b! all=x,y empty=")
        #expect(try app.test(.get, "/query").text == "q=- all= empty=nil")
        let many = (0..<40).map { "k\($0)=\($0)" }.joined(separator: "&")
        #expect(try app.test(.get, "/query?\(many)&q=last").text.hasPrefix("q=last"))
        let cookie = try app.test(.get, "/cookie", headers: [("Cookie", "theme=dark; session=\"abc\"")])
        #expect(cookie.text == "session=abc theme=dark")
        #expect(try app.test(.get, "/header", headers: [("User-Agent", "t/1")]).text == "agent=t/1")
        let form = try app.test(.post, "/form", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                                body: "name=Ada+L&city=S%C3%A3o")
        #expect(form.text == "name=Ada L city=São")
    }

    @Test func decodesAndEncodesJSON() throws {
        let response = try app.test(.post, "/users", json: User(id: 0, name: "Ada \"Countess\"\n", tags: ["a", "b"], score: 2.5))
        #expect(response.status == .created)
        #expect(response.header("Content-Type") == "application/json")
        #expect(response.text == #"{"id":7,"name":"Ada \"Countess\"\n","tags":["a","b"],"score":2.5}"#)
        #expect(try response.json(User.self) == User(id: 7, name: "Ada \"Countess\"\n", tags: ["a", "b"], score: 2.5))
        let bad = try app.test(.post, "/users", headers: [("Content-Type", "application/json")], body: #"{"id":"x"}"#)
        #expect(bad.status == .badRequest)
        #expect(bad.text.contains("invalid JSON body"))
        let wrongType = try app.test(.post, "/users", headers: [("Content-Type", "text/plain")], body: "{}")
        #expect(wrongType.status == .unsupportedMediaType)
    }

    @Test func turnsErrorsIntoResponsesWithoutLeakingInternals() throws {
        let teapot = try app.test(.get, "/teapot")
        #expect(teapot.status == 418)
        #expect(teapot.text == #"{"error":"short and stout"}"#)
        let hidden = try app.test(.get, "/secret-failure")
        #expect(hidden.status == .internalServerError)
        #expect(hidden.text == #"{"error":"Internal Server Error"}"#)
    }

    @Test func setsTheStatusAfterHeadersAndCookies() throws {
        let response = try app.test(.get, "/headers-then-status")
        #expect(response.status == .accepted)
        #expect(response.header("X-First") == "1")
        #expect(response.header("Set-Cookie") == "s=a%20b; Path=/; HttpOnly; SameSite=Lax")
        let redirect = try app.test(.get, "/redirect")
        #expect(redirect.status == .seeOther)
        #expect(redirect.header("Location") == "/users/1")
        #expect(try app.test(.get, "/empty").status == .noContent)
    }

    @Test func servesLiveOverLoopbackToo() throws {
        let client = try app.testClient(.live)
        #expect(client.port > 0)
        #expect(try client.send(.get, "/users/9").text == "user 9")
        #expect(try client.send(.get, "/async/2").text == "async 2")
        #expect(try client.send(.get, "/nowhere").status == .notFound)
    }
}

@Suite struct JSONWriterTests {
    struct Nested: Encodable, Sendable {
        var a: [Int: String] = [1: "x"]
        var b: [[Int]] = [[1, 2], [], [3]]
        var c: Bool? = nil
        var d: Float = 0.25
        var e: Int8 = -128
        var f: UInt64 = .max
        var g: String = "tab\there \u{1}"
        var h: Double = 3
        var i: [String: Bool] = [:]
    }

    class Base: Encodable, @unchecked Sendable {
        var base = 1
        private enum CodingKeys: String, CodingKey { case base }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(base, forKey: .base)
        }
    }

    final class Derived: Base, @unchecked Sendable {
        var extra = "x"
        private enum CodingKeys: String, CodingKey { case extra, meta }
        override func encode(to encoder: any Encoder) throws {
            try super.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(extra, forKey: .extra)
            var meta = c.nestedContainer(keyedBy: CodingKeys.self, forKey: .meta)
            try meta.encode("m", forKey: .extra)
        }
    }

    func encoded<T: Encodable & Sendable>(_ value: T) throws -> String {
        let app = App()
        app.get("/") { c in try c.json(value) }
        return try app.test(.get, "/").text
    }

    @Test func writesWhatJSONEncoderWouldForPlainData() throws {
        #expect(try encoded(Nested()) == #"{"a":{"1":"x"},"b":[[1,2],[],[3]],"d":0.25,"e":-128,"f":18446744073709551615,"g":"tab\there \u0001","h":3,"i":{}}"#)
        #expect(try encoded([1, 2, 3]) == "[1,2,3]")
        #expect(try encoded("just a string") == #""just a string""#)
        #expect(try encoded(Derived()) == #"{"base":1,"extra":"x","meta":{"extra":"m"}}"#)
        let big = (0..<3000).map { "item \($0)" }
        let text = try encoded(big)
        #expect(text.count > 30000 && text.hasPrefix(#"["item 0","item 1""#) && text.hasSuffix(#""item 2999"]"#))
    }

    @Test func refusesNonFiniteNumbers() throws {
        let app = App()
        app.get("/") { c in try c.json([Double.nan]) }
        #expect(try app.test(.get, "/").status == .internalServerError)
    }
}
