import RoutingKit

/// RoutingKit's `TrieRouter` as Vapor's `DefaultResponder` drives it: routes registered under a leading method
/// component; per request the path is split into `[String]`, the method prepended, and `route(path:parameters:)`
/// fills a new `Parameters`.
public final class RoutingKitWorkload: SyncWorkload, @unchecked Sendable {
    let router: TrieRouter<Int>
    let handlers: [(Parameters) -> Int]
    let requests: [(method: String, path: String)]

    public init(_ routerCase: RouterCase) {
        router = TrieRouter(Int.self)
        for (index, route) in GitHubRoutes.all.enumerated() {
            router.register(index, at: [.constant(route.method)] + route.pattern.pathComponents)
        }
        handlers = GitHubRoutes.all.map { _ in { _ in 1 } }  // RoutingKit's Parameters has no O(1) count
        requests = routerCase.requests
        precondition(run(1) > 0)
    }

    public func run(_ n: Int) -> Int {
        let router = self.router, handlers = self.handlers, requests = self.requests
        var sink = 0
        for _ in 0..<n {
            for request in requests {
                var parameters = Parameters()
                let components = request.path.split(separator: "/").map(String.init)
                guard let index = router.route(path: [request.method] + components, parameters: &parameters) else {
                    fatalError("RoutingKit: no route for \(request.method) \(request.path)")
                }
                sink &+= handlers[index](parameters)
            }
        }
        return sink
    }
}
