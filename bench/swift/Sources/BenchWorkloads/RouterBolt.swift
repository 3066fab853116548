import Bolt

// Each router gets all 203 GitHub routes, each route's value an index into a handler table; one operation is
// lookup with parameter extraction, then dispatch: the handler is called with the parameters and reads their
// count where that is O(1) (Bolt, Hummingbird), as Gin's figure includes its handler call with c.Params filled.

/// Bolt's router: lookup on the path's bytes into reused `PathParameters`, then the handler by index.
public final class BoltRouterWorkload: SyncWorkload, @unchecked Sendable {
    let router: Router
    let handlers: [(inout PathParameters) -> Int]
    let requests: [(HTTPMethod, ByteView)]
    let storage: [UnsafeMutableRawBufferPointer]

    public init(_ routerCase: RouterCase) throws {
        var builder = RouterBuilder()
        for (value, route) in GitHubRoutes.all.enumerated() {
            try builder.add(Self.method(route.method), route.pattern, value: value)
        }
        router = builder.compile()
        handlers = GitHubRoutes.all.map { _ in { $0.count &+ 1 } }
        storage = routerCase.requests.map { request in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: request.path.utf8.count, alignment: 8)
            buffer.copyBytes(from: request.path.utf8)
            return buffer
        }
        requests = zip(routerCase.requests, storage).map { (Self.method($0.method), ByteView(unsafeBytes: UnsafeRawBufferPointer($1))) }
        precondition(run(1) > 0)
    }

    deinit { storage.forEach { $0.deallocate() } }

    static func method(_ name: String) -> HTTPMethod { HTTPMethod.allCases.first { $0.description == name }! }

    public func run(_ n: Int) -> Int {
        // locals, not stored properties: `&self.params` on a class would pay a dynamic exclusivity check
        var params = PathParameters()
        let router = self.router, handlers = self.handlers
        let requests = self.requests
        var sink = 0
        for _ in 0..<n {
            for (method, path) in requests {
                guard case .found(let value) = router.lookup(method, path: path, into: &params) else {
                    fatalError("Bolt: no route for \(method) \(path)")
                }
                sink &+= handlers[value](&params)
            }
        }
        return sink
    }
}
