import Bolt
import Foundation
import Testing

/// What a lookup gave: the match and the parameters as `name=value` (raw values).
struct Lookup: Equatable, CustomStringConvertible {
    var match: RouteMatch
    var params: [String] = []
    var description: String { "\(match) \(params)" }
}

extension Router {
    func lookup(_ method: HTTPMethod, _ path: String) -> Lookup {
        var params = PathParameters()
        return lookup(method, path, reusing: &params)
    }

    /// The lookup as names and values, copied while the path's bytes are alive.
    func lookup(_ method: HTTPMethod, _ path: String, reusing params: inout PathParameters) -> Lookup {
        var path = path
        return path.withUTF8 { bytes in
            let match = lookup(method, path: ByteView(unsafeBytes: UnsafeRawBufferPointer(bytes)), into: &params)
            return Lookup(match: match, params: (0..<params.count).map { "\(params.name(at: $0))=\(params.value(at: $0))" })
        }
    }

    /// Runs `body` with the parameters while the path's bytes are alive.
    func withLookup(_ method: HTTPMethod, _ path: String, _ body: (RouteMatch, PathParameters) -> Void) {
        var path = path
        var params = PathParameters()
        path.withUTF8 { bytes in
            body(lookup(method, path: ByteView(unsafeBytes: UnsafeRawBufferPointer(bytes)), into: &params), params)
        }
    }
}

func makeRouter(_ routes: [(HTTPMethod, String)], redirects: Bool = true) throws(RouteError) -> Router {
    var builder = RouterBuilder()
    builder.redirectsTrailingSlash = redirects
    for (value, (method, pattern)) in routes.enumerated() { try builder.add(method, pattern, value: value) }
    return builder.compile()
}

func conflictMessage(_ routes: [(HTTPMethod, String)]) -> String? {
    do {
        _ = try makeRouter(routes)
        return nil
    } catch {
        return error.message
    }
}

@Suite struct RouterTests {
    @Test func prefersStaticThenParameterThenWildcard() throws {
        let router = try makeRouter([
            (.get, "/users/new"), (.get, "/users/:id"), (.get, "/users/*rest"), (.get, "/users/:id/edit"),
            (.get, "/"), (.get, "/static/*file"),
        ])
        #expect(router.lookup(.get, "/users/new") == Lookup(match: .found(0)))
        #expect(router.lookup(.get, "/users/newer") == Lookup(match: .found(1), params: ["id=newer"]))
        #expect(router.lookup(.get, "/users/ne") == Lookup(match: .found(1), params: ["id=ne"]))
        #expect(router.lookup(.get, "/users/42") == Lookup(match: .found(1), params: ["id=42"]))
        #expect(router.lookup(.get, "/users/42/x") == Lookup(match: .found(2), params: ["rest=42/x"]))
        #expect(router.lookup(.get, "/users/") == Lookup(match: .found(2), params: ["rest="]))
        #expect(router.lookup(.get, "/users/42/edit") == Lookup(match: .found(3), params: ["id=42"]))
        #expect(router.lookup(.get, "/") == Lookup(match: .found(4)))
        #expect(router.lookup(.get, "/static/") == Lookup(match: .found(5), params: ["file="]))
        #expect(router.lookup(.get, "/static/css/a.css") == Lookup(match: .found(5), params: ["file=css/a.css"]))
        #expect(router.lookup(.get, "/static") == Lookup(match: .redirect(.add)))
    }

    @Test func backtracksWhenTheStaticBranchFailsDeeper() throws {
        let router = try makeRouter([
            (.get, "/users/new"), (.get, "/users/:id/edit"), (.get, "/a/b/c/d"), (.get, "/a/:x/c/e"),
            (.get, "/a/:x/:y/f"), (.get, "/a/*all"), (.get, "/src/:file/raw"), (.get, "/src/main.swift"),
        ])
        #expect(router.lookup(.get, "/users/new/edit") == Lookup(match: .found(1), params: ["id=new"]))
        #expect(router.lookup(.get, "/a/b/c/d") == Lookup(match: .found(2)))
        #expect(router.lookup(.get, "/a/b/c/e") == Lookup(match: .found(3), params: ["x=b"]))
        #expect(router.lookup(.get, "/a/b/c/f") == Lookup(match: .found(4), params: ["x=b", "y=c"]))
        #expect(router.lookup(.get, "/a/b/c/g") == Lookup(match: .found(5), params: ["all=b/c/g"]))
        #expect(router.lookup(.get, "/src/main.swift/raw") == Lookup(match: .found(6), params: ["file=main.swift"]))
        #expect(router.lookup(.get, "/src/main.swiftx") == Lookup(match: .notFound))
    }

    @Test func rejectsConflictsNamingBothRoutes() {
        let cases: [([(HTTPMethod, String)], String, String)] = [
            ([(.get, "/users/:id"), (.get, "/users/:name")], "GET /users/:name", "GET /users/:id"),
            ([(.get, "/users/:id/a"), (.get, "/users/:name/b")], "GET /users/:name/b", "GET /users/:id/a"),
            ([(.get, "/users/:id"), (.get, "/users/:id")], "GET /users/:id", "GET /users/:id"),
            ([(.post, "/files/*path"), (.post, "/files/*rest")], "POST /files/*rest", "POST /files/*path"),
            ([(.get, "/x/y"), (.get, "/x/y")], "GET /x/y", "GET /x/y"),
        ]
        for (routes, new, existing) in cases {
            let message = conflictMessage(routes) ?? ""
            #expect(message.hasPrefix("route \(new) conflicts with \(existing): "), "\(message)")
        }
        // Not conflicts: other methods, static beside a parameter, a parameter beside a wildcard.
        #expect(conflictMessage([(.get, "/users/:id"), (.delete, "/users/:name")]) == nil)
        #expect(conflictMessage([(.get, "/users/new"), (.get, "/users/:id"), (.get, "/users/*all")]) == nil)
    }

    @Test func leavesTheRouterUnchangedWhenARouteIsRejected() throws {
        var builder = RouterBuilder()
        try builder.add(.get, "/users/:id", value: 0)
        #expect(throws: RouteError.self) { try builder.add(.get, "/users/:name/posts", value: 1) }
        try builder.add(.get, "/users/:id/posts", value: 2)
        let router = builder.compile()
        #expect(router.lookup(.get, "/users/7/posts") == Lookup(match: .found(2), params: ["id=7"]))
    }

    @Test func rejectsMalformedPatterns() {
        let invalid = [
            "", "users", "/users/:", "/files/*", "/a/:id/b/:id", "/a/:id/*id", "/files/*path/more", "/a//b", "//",
            "/a:b", "/a/b*", "/a/:b:c", "/caf\u{E9}", "/a b", "/a?b", "/a#b", "/tab\t",
        ]
        for pattern in invalid {
            #expect(throws: RouteError.self, "\(pattern)") { try makeRouter([(.get, pattern)]) }
            let message = conflictMessage([(.get, pattern)]) ?? ""
            #expect(message.hasPrefix("invalid route pattern \"\(pattern)\": "), "\(message)")
        }
    }

    @Test func answers405WithTheAllowedMethodsOnlyWhenThePathExists() throws {
        let router = try makeRouter([(.get, "/x"), (.post, "/x"), (.put, "/items/:id"), (.patch, "/items/:id")])
        #expect(router.lookup(.delete, "/x") == Lookup(match: .methodNotAllowed(MethodSet(.get, .head, .post))))
        #expect(MethodSet(.get, .head, .post).allowHeaderValue == "GET, HEAD, POST")
        #expect(router.lookup(.get, "/items/3") == Lookup(match: .methodNotAllowed(MethodSet(.put, .patch))))
        #expect(MethodSet(.put, .patch).allowHeaderValue == "PUT, PATCH")
        #expect(router.lookup(.other, "/x") == Lookup(match: .methodNotAllowed(MethodSet(.get, .head, .post))))
        #expect(router.lookup(.get, "/y") == Lookup(match: .notFound))
        #expect(router.lookup(.get, "/items/") == Lookup(match: .notFound))
        #expect(router.lookup(.get, "") == Lookup(match: .notFound))
        #expect(router.lookup(.options, "*") == Lookup(match: .notFound))
    }

    @Test func servesHeadWithGetRoutesUnlessAHeadRouteExists() throws {
        let router = try makeRouter([(.get, "/a/:id"), (.head, "/b"), (.get, "/b"), (.head, "/c")])
        #expect(router.lookup(.head, "/a/1") == Lookup(match: .found(0), params: ["id=1"]))
        #expect(router.lookup(.head, "/b") == Lookup(match: .found(1)))
        #expect(router.lookup(.get, "/c") == Lookup(match: .methodNotAllowed(MethodSet(.head))))
        #expect(router.lookup(.post, "/a/1") == Lookup(match: .methodNotAllowed(MethodSet(.get, .head))))
    }

    @Test func routesAnyMethodAfterTheMethodsOwnRoutes() throws {
        var builder = RouterBuilder()
        try builder.add(.get, "/dav/:file", value: 0)
        try builder.addForAnyMethod("/dav/*path", value: 1)
        #expect(throws: RouteError.self) { try builder.add(.other, "/dav/x", value: 2) }
        let router = builder.compile()
        #expect(router.lookup(.get, "/dav/a") == Lookup(match: .found(0), params: ["file=a"]))
        #expect(router.lookup(.other, "/dav/a") == Lookup(match: .found(1), params: ["path=a"]))
        #expect(router.lookup(.delete, "/dav/a/b") == Lookup(match: .found(1), params: ["path=a/b"]))
    }

    @Test func redirectsToTheOtherTrailingSlashFormWhenEnabled() throws {
        let routes: [(HTTPMethod, String)] = [(.get, "/docs/"), (.get, "/users/:id"), (.post, "/only-post")]
        let router = try makeRouter(routes)
        #expect(router.lookup(.get, "/docs") == Lookup(match: .redirect(.add)))
        #expect(router.lookup(.get, "/users/7/") == Lookup(match: .redirect(.remove)))
        #expect(router.lookup(.head, "/users/7/") == Lookup(match: .redirect(.remove)))
        #expect(router.lookup(.get, "/only-post/") == Lookup(match: .notFound))
        #expect(router.lookup(.get, "/only-post") == Lookup(match: .methodNotAllowed(MethodSet(.post))))
        #expect(router.lookup(.get, "/nothing/") == Lookup(match: .notFound))
        let strict = try makeRouter(routes, redirects: false)
        #expect(strict.lookup(.get, "/docs") == Lookup(match: .notFound))
        #expect(strict.lookup(.get, "/users/7/") == Lookup(match: .notFound))
    }

    @Test func spillsPastEightParametersWithoutFailing() throws {
        let names = (1...12).map { "p\($0)" }
        let router = try makeRouter([
            (.get, "/" + names.map { ":\($0)" }.joined(separator: "/")), (.get, "/two/:a/:b"),
            (.get, "/" + names.map { ":\($0)" }.joined(separator: "/") + "/tail"),
        ])
        var params = PathParameters()
        let twelve = (1...12).map { "v\($0)" }.joined(separator: "/")
        #expect(router.lookup(.get, "/" + twelve, reusing: &params)
            == Lookup(match: .found(0), params: (1...12).map { "p\($0)=v\($0)" }))
        #expect(router.lookup(.get, "/" + twelve + "/tail", reusing: &params)
            == Lookup(match: .found(2), params: (1...12).map { "p\($0)=v\($0)" }))
        #expect(router.lookup(.get, "/two/x/y", reusing: &params) == Lookup(match: .found(1), params: ["a=x", "b=y"]))
        router.withLookup(.get, "/" + twelve) { _, params in
            #expect(params["p12"]?.string == "v12" && params.string("p9") == "v9" && params["p13"] == nil)
            #expect(params[String("p10")]?.string == "v10" && params.name(at: 10) == "p11")
        }
    }

    @Test func keepsAnEncodedSlashInsideItsSegment() throws {
        let router = try makeRouter([(.get, "/files/:name"), (.get, "/files/:name/:part")])
        #expect(router.lookup(.get, "/files/a%2Fb") == Lookup(match: .found(0), params: ["name=a%2Fb"]))
        #expect(router.lookup(.get, "/files/a/b") == Lookup(match: .found(1), params: ["name=a", "part=b"]))
        router.withLookup(.get, "/files/a%2Fb") { _, params in
            #expect(params.string("name") == "a/b")
            #expect(params["name"]?.string == "a%2Fb")
        }
    }

    @Test func percentDecodesByTheDocumentedRule() {
        let cases: [(String, String)] = [
            ("plain", "plain"), ("caf%C3%A9", "café"), ("caf%c3%a9", "café"), ("a%2Fb", "a/b"), ("a+b", "a+b"),
            ("a%20b", "a b"), ("100%", "100%"), ("%", "%"), ("%4", "%4"), ("%zz", "%zz"), ("%%41", "%A"),
            ("%4g%41", "%4gA"), ("%FF", "\u{FFFD}"), ("%C3", "\u{FFFD}"), ("%E2%82%AC%F0%9F%98%80", "€😀"),
            ("%00", "\u{0}"), ("caf\u{E9}", "caf\u{E9}"),
        ]
        for (encoded, decoded) in cases {
            var bytes = encoded
            bytes.withUTF8 { #expect(ByteView(unsafeBytes: UnsafeRawBufferPointer($0)).percentDecodedString == decoded) }
        }
    }

    @Test func matchesVeryLongPathsAndEmptySegments() throws {
        let longStatic = "/" + String(repeating: "segment/", count: 2_000) + "end"
        let router = try makeRouter([
            (.get, longStatic), (.get, "/p/:value"), (.get, "/w/*rest"), (.get, "/a/:x/b"), (.get, "/a/b"),
        ])
        #expect(router.lookup(.get, longStatic) == Lookup(match: .found(0)))
        #expect(router.lookup(.get, longStatic + "x") == Lookup(match: .notFound))
        let longValue = String(repeating: "v", count: 100_000)
        #expect(router.lookup(.get, "/p/" + longValue) == Lookup(match: .found(1), params: ["value=" + longValue]))
        #expect(router.lookup(.get, "/w//x//") == Lookup(match: .found(2), params: ["rest=/x//"]))
        #expect(router.lookup(.get, "/a//b") == Lookup(match: .notFound))
        #expect(router.lookup(.get, "//a/b") == Lookup(match: .notFound))
        #expect(router.lookup(.get, "/p/") == Lookup(match: .notFound))
        #expect(router.lookup(.get, "/p//") == Lookup(match: .notFound))
    }

    @Test func findsEveryGitHubRouteByItsOwnPattern() throws {
        let url = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../bench/data/github_routes.txt")
        let routes: [(HTTPMethod, String)] = try String(contentsOf: url, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("#") }
            .map { line in
                let parts = line.split(separator: " ")
                return (HTTPMethod.allCases.first { $0.description == parts[0] }!, String(parts[1]))
            }
        #expect(routes.count == 203)
        let router = try makeRouter(routes)
        for (value, (method, pattern)) in routes.enumerated() {
            let names = pattern.split(separator: "/").filter { $0.hasPrefix(":") }.map { String($0.dropFirst()) }
            #expect(router.lookup(method, pattern) == Lookup(match: .found(value), params: names.map { "\($0)=:\($0)" }))
        }
    }

    @Test func agreesWithAReferenceMatcherOnRandomRoutes() throws {
        var random = SplitMix64(seed: 0x5EED)
        let methods: [HTTPMethod?] = [.get, .head, .post, nil]
        let words = ["a", "b", "ab", "abc"]
        for _ in 0..<200 {
            var builder = RouterBuilder()
            builder.redirectsTrailingSlash = random.next() % 2 == 0
            var reference = ReferenceRouter(redirectsTrailingSlash: builder.redirectsTrailingSlash)
            for _ in 0..<Int(random.next() % 12 + 1) {
                var segments: [String] = []
                let count = Int(random.next() % 4)
                for position in 0..<count {
                    switch random.next() % 6 {
                    case 0: segments.append(":p\(position)")
                    case 1 where position == count - 1: segments.append("*w")
                    default: segments.append(words[Int(random.next() % 4)])
                    }
                }
                if segments.last != "*w" && (random.next() % 5 == 0 || segments.isEmpty) { segments.append("") }
                let pattern = "/" + segments.joined(separator: "/")
                let method = methods[Int(random.next() % 4)]
                let value = reference.routes.count
                let accepted: Bool
                do {
                    if let method { try builder.add(method, pattern, value: value) } else {
                        try builder.addForAnyMethod(pattern, value: value)
                    }
                    accepted = true
                } catch { accepted = false }
                #expect(accepted == reference.add(method, pattern), "\(pattern)")
            }
            let router = builder.compile()
            for _ in 0..<100 {
                let pathWords = ["a", "b", "ab", "abc", "x", "", "a%2Fb"]
                let segments = (0..<Int(random.next() % 5)).map { _ in pathWords[Int(random.next() % 7)] }
                let path = "/" + segments.joined(separator: "/") + (random.next() % 4 == 0 ? "/" : "")
                for method in [HTTPMethod.get, .head, .post, .delete] {
                    #expect(router.lookup(method, path) == reference.lookup(method, path), "\(method) \(path)")
                }
            }
        }
    }
}

/// A slow matcher that follows the documented rules literally: of the routes matching segment by segment,
/// the one whose kinds (static < parameter < wildcard) come first from the left.
struct ReferenceRouter {
    var routes: [(method: HTTPMethod?, segments: [Substring])] = []
    let redirectsTrailingSlash: Bool

    mutating func add(_ method: HTTPMethod?, _ pattern: String) -> Bool {
        let segments = pattern.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        if routes.contains(where: { $0.method == method && $0.segments == segments }) { return false }
        routes.append((method, segments))
        return true
    }

    func match(_ method: HTTPMethod?, _ path: Substring) -> Lookup? {
        let parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        var best: (kinds: [Int], value: Int, params: [String])?
        for (value, route) in routes.enumerated() where route.method == method {
            var kinds: [Int] = []
            var params: [String] = []
            var matched = true
            for (index, segment) in route.segments.enumerated() {
                if segment.hasPrefix("*") && index < parts.count {
                    kinds.append(2)
                    params.append("\(segment.dropFirst())=\(parts[index...].joined(separator: "/"))")
                    break
                }
                guard index < parts.count else {
                    matched = false
                    break
                }
                if segment.hasPrefix(":") && !parts[index].isEmpty {
                    kinds.append(1)
                    params.append("\(segment.dropFirst())=\(parts[index])")
                } else if segment == parts[index] {
                    kinds.append(0)
                } else {
                    matched = false
                    break
                }
            }
            if !matched || (kinds.last != 2 && route.segments.count != parts.count) { continue }
            if best == nil || kinds.lexicographicallyPrecedes(best!.kinds) { best = (kinds, value, params) }
        }
        return best.map { Lookup(match: .found($0.value), params: $0.params) }
    }

    func matchWithFallbacks(_ method: HTTPMethod, _ path: Substring) -> Lookup? {
        match(method, path) ?? (method == .head ? match(.get, path) : nil) ?? match(nil, path)
    }

    func lookup(_ method: HTTPMethod, _ path: String) -> Lookup {
        if let found = matchWithFallbacks(method, path[...]) { return found }
        if redirectsTrailingSlash {
            if path.count > 1 && path.hasSuffix("/") {
                if matchWithFallbacks(method, path.dropLast()) != nil { return Lookup(match: .redirect(.remove)) }
            } else if matchWithFallbacks(method, (path + "/")[...]) != nil {
                return Lookup(match: .redirect(.add))
            }
        }
        var allowed = MethodSet()
        for other in HTTPMethod.allCases where match(other, path[...]) != nil { allowed.insert(other) }
        if allowed.contains(.get) { allowed.insert(.head) }
        return Lookup(match: allowed.isEmpty ? .notFound : .methodNotAllowed(allowed))
    }
}

/// A small seeded generator, so the random cross-check is the same on every run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
