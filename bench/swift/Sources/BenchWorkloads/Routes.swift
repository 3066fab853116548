import Foundation

/// The GitHub REST API route set of go-http-routing-benchmark: 203 `METHOD /path/:param` routes.
public enum GitHubRoutes {
    /// Every route as (method name, pattern), in file order.
    public static let all: [(method: String, pattern: String)] = {
        // bench/data/github_routes.txt, found from this source file (the benchmarks run from a checkout)
        let url = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../../data/github_routes.txt")
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { fatalError("cannot read \(url.path)") }
        let routes = text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.map { line in
            let parts = line.split(separator: " ")
            return (String(parts[0]), String(parts[1]))
        }
        precondition(routes.count == 203, "expected 203 GitHub routes, found \(routes.count)")
        return routes
    }()
}

/// One router case: the requests looked up (and dispatched) per operation.
public struct RouterCase: Sendable {
    public let name: String
    public let requests: [(method: String, path: String)]

    /// The cases the Bolt issue names, as go-http-routing-benchmark defines them; "all" requests every route by
    /// its own pattern text (`:name` literally), 203 lookups per operation.
    public static let all: [RouterCase] = [
        RouterCase(name: "static", requests: [("GET", "/user/repos")]),
        RouterCase(name: "param1", requests: [("GET", "/users/julienschmidt")]),
        RouterCase(name: "param2", requests: [("GET", "/repos/julienschmidt/httprouter/stargazers")]),
        RouterCase(name: "param4", requests: [("DELETE", "/repos/julienschmidt/httprouter/issues/42/labels/bug")]),
        RouterCase(name: "all203", requests: GitHubRoutes.all.map { ($0.method, $0.pattern) }),
    ]
}

/// A measured loop: `run(n)` performs `n` operations and returns a value that depends on all of them (so the
/// optimizer keeps them).
public protocol SyncWorkload: AnyObject {
    func run(_ n: Int) -> Int
}

/// An async measured loop (peers whose request path is async).
public protocol AsyncWorkload: AnyObject {
    func run(_ n: Int) async throws -> Int
}
