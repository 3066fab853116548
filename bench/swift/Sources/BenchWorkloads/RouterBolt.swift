import Bolt

// Each router gets all 203 GitHub routes, each route's value an index into a handler table; one operation is
// lookup with parameter extraction, then dispatch: the handler is called with the parameters and reads their
// count where that is O(1) (Bolt, Hummingbird), as Gin's figure includes its handler call with c.Params filled.

/// Bolt's router: lookup on the path's bytes into reused `PathParameters`, then the handler by index.
public final class BoltRouterWorkload: SyncWorkload, @unchecked Sendable {
    let router: Router
    let handlers: [(inout PathParameters) -> Int]
    let methods: [HTTPMethod]
    let views: [ByteView]
    let storage: [UnsafeMutableRawBufferPointer]
    var params = PathParameters()

    public init(_ routerCase: RouterCase) throws {
        var builder = RouterBuilder()
        for (value, route) in GitHubRoutes.all.enumerated() {
            try builder.add(Self.method(route.method), route.pattern, value: value)
        }
        router = builder.compile()
        handlers = GitHubRoutes.all.map { _ in { $0.count &+ 1 } }
        methods = routerCase.requests.map { Self.method($0.method) }
        storage = routerCase.requests.map { request in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: request.path.utf8.count, alignment: 8)
            buffer.copyBytes(from: request.path.utf8)
            return buffer
        }
        views = storage.map { ByteView(unsafeBytes: UnsafeRawBufferPointer($0)) }
        precondition(run(1) > 0)
    }

    deinit { storage.forEach { $0.deallocate() } }

    static func method(_ name: String) -> HTTPMethod { HTTPMethod.allCases.first { $0.description == name }! }

    public func run(_ n: Int) -> Int {
        var sink = 0
        let count = views.count
        for _ in 0..<n {
            for i in 0..<count {
                guard case .found(let value) = router.lookup(methods[i], path: views[i], into: &params) else {
                    fatalError("Bolt: no route for \(methods[i]) \(views[i])")
                }
                sink &+= handlers[value](&params)
            }
        }
        return sink
    }
}
