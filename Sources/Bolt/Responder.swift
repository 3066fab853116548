#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The compiled app: what the server calls for every request.
///
/// Per request on a synchronous route: a context from the loop's pool, one router lookup on the path bytes
/// (parameters land in the context), the route's flat chain, the context back to the pool — no allocation, no
/// lock, no reference counting on shared objects beyond the chain's own. An `async` route suspends into a task
/// on the same loop thread (``MixedHTTPHandler``), where a context is taken and released the same way.
struct Responder: MixedHTTPHandler {
    /// One compiled route.
    final class CompiledRoute: @unchecked Sendable {
        let pattern: String?
        let sync: SyncChain?
        let async: AsyncChain?
        /// `sync`, unretained: calling it costs no reference count on an object every loop shares.
        let syncChain: Unmanaged<SyncChain>?

        init(pattern: String?, sync: SyncChain?, async: AsyncChain?) {
            self.pattern = pattern
            self.sync = sync
            self.async = async
            syncChain = sync.map { Unmanaged.passUnretained($0) }
        }
    }

    /// The routes by router value, unretained (`routes` owns them): looking one up touches no reference count,
    /// so two loops answering at once do not bounce a counter's cache line between their cores.
    final class RouteTable: @unchecked Sendable {
        let routes: [CompiledRoute]
        let refs: UnsafeMutablePointer<Unmanaged<CompiledRoute>>

        init(_ routes: [CompiledRoute]) {
            self.routes = routes
            refs = .allocate(capacity: max(routes.count, 1))
            for (i, route) in routes.enumerated() { (refs + i).initialize(to: .passUnretained(route)) }
        }

        deinit { refs.deallocate() }
    }

    let router: Router
    let table: RouteTable
    var routes: [CompiledRoute] { table.routes }
    let notFound: CompiledRoute
    let methodNotAllowed: CompiledRoute
    var pools: ContextPools
    let settings: AppSettings

    static let notFoundTag = -1
    static let methodNotAllowedTag = -2

    init(routes: [App.Route], global: [any MiddlewareProtocol], configuration: App.Configuration) throws(BoltError) {
        var builder = RouterBuilder()
        builder.redirectsTrailingSlash = configuration.redirectsTrailingSlash
        var compiled: [CompiledRoute] = []
        for (index, route) in routes.enumerated() {
            do {
                if let method = route.method {
                    try builder.add(method, route.pattern, value: index)
                } else {
                    try builder.addForAnyMethod(route.pattern, value: index)
                }
            } catch {
                throw BoltError("route \(route.method.map { "\($0)" } ?? "ANY") \(route.pattern): \(error.message)")
            }
            let name = "\(route.method.map { "\($0)" } ?? "ANY") \(route.pattern)"
            compiled.append(try Self.chain(name, route.pattern, global + route.middleware, route.handler))
        }
        router = builder.compile()
        table = RouteTable(compiled)
        settings = AppSettings(errorHandler: configuration.errorHandler)
        notFound = try Self.chain("the 404 answer", nil, global, .sync { _ in throw HTTPError(.notFound) })
        methodNotAllowed = try Self.chain(
            "the 405 answer", nil, global,
            .sync { c in throw HTTPError(.methodNotAllowed, headers: [("Allow", c.allowed.allowHeaderValue)]) })
        pools = ContextPools(loops: 0, warm: 0, settings: settings)  // each server gets its own (App.makeServer)
    }

    /// Composes a route's chain: synchronous when the handler and every middleware can be, else async.
    static func chain(
        _ name: String, _ pattern: String?, _ middleware: [any MiddlewareProtocol], _ handler: RouteHandler
    ) throws(BoltError) -> CompiledRoute {
        let sync = middleware.compactMap { $0 as? any Middleware }
        if case .sync(let body) = handler, sync.count == middleware.count {
            return CompiledRoute(pattern: pattern, sync: SyncChain(sync, body), async: nil)
        }
        var async: [any AsyncMiddleware] = []
        for m in middleware {
            guard let a = m as? any AsyncMiddleware else {
                throw BoltError(
                    "\(name) runs asynchronously (an async handler or async-only middleware), but middleware "
                        + "\(type(of: m)) has no async form: make it an AsyncMiddleware, or use an async closure")
            }
            async.append(a)
        }
        let body: AsyncHandler
        switch handler {
        case .async(let h): body = h
        case .sync(let h): body = { c in try h(c) }
        }
        return CompiledRoute(pattern: pattern, sync: nil, async: AsyncChain(async, body))
    }

    // MARK: MixedHTTPHandler

    func handle(_ request: borrowing Request, _ response: inout ResponseWriter) throws -> HandlerDisposition {
        let pool = pools.pool(request.loopIndex)
        var c = pool._withUnsafeGuaranteedRef { $0.acquire() }
        defer { pool._withUnsafeGuaranteedRef { $0.release(&c) } }
        let route: Unmanaged<CompiledRoute>
        let tag: Int
        switch router.lookup(request.method, path: request.path, into: &c.routeParams) {
        case .found(let index):
            route = table.refs[index]
            tag = index
        case .notFound:
            route = .passUnretained(notFound)
            tag = Self.notFoundTag
        case .methodNotAllowed(let allowed):
            c.allowed = allowed
            route = .passUnretained(methodNotAllowed)
            tag = Self.methodNotAllowedTag
        case .redirect(let change):
            guard let location = Self.redirectLocation(request, change) else {
                // a location a browser would read as another host: no redirect, the path is simply not found
                route = .passUnretained(notFound)
                tag = Self.notFoundTag
                break
            }
            redirect(request, &response, to: location)
            return .done
        }
        guard let chain = route._withUnsafeGuaranteedRef({ $0.syncChain }) else { return .suspend(tag: tag) }
        c.bind(request, &response) { c in
            c.matched = route
            do {
                try chain._withUnsafeGuaranteedRef { try $0.run(c, from: 0) }
            } catch {
                c.fail(with: error)
            }
        }
        return .done
    }

    func handleAsync(_ request: borrowing Request, _ response: inout ResponseWriter, tag: Int) async throws {
        let pool = pools.loops[request.loopIndex]
        var c = pool.acquire()
        defer { pool.release(&c) }
        let route: CompiledRoute
        switch tag {
        case Self.notFoundTag: route = notFound
        case Self.methodNotAllowedTag:
            if case .methodNotAllowed(let allowed) = router.lookup(request.method, path: request.path, into: &c.routeParams) {
                c.allowed = allowed
            }
            route = methodNotAllowed
        default:
            _ = router.lookup(request.method, path: request.path, into: &c.routeParams)
            route = routes[tag]
        }
        let chain = route.async.unsafelyUnwrapped
        await c.bind(request, &response) { c in
            c.matched = .passUnretained(route)
            do {
                try await chain.run(c, from: 0)
            } catch {
                c.fail(with: error)
            }
        }
    }

    /// The trailing-slash redirect's `Location`: the path with its last `/` added or removed, and the query. Nil
    /// when the result would not be a path on this server: `//host/…` and `/\host/…` are read by browsers as
    /// another host (an open redirect they would cache, for 301), and a path must start with `/`.
    static func redirectLocation(_ request: borrowing Request, _ change: RouteMatch.TrailingSlash) -> [UInt8]? {
        var location = Array(request.path)
        switch change {
        case .add: location.append(UInt8(ascii: "/"))
        case .remove: location.removeLast()
        }
        guard location.first == UInt8(ascii: "/") else { return nil }
        if location.count >= 2, location[1] == UInt8(ascii: "/") || location[1] == UInt8(ascii: "\\") { return nil }
        if request.hasQuery {
            location.append(UInt8(ascii: "?"))
            location += request.query
        }
        return location
    }

    /// The trailing-slash redirect: 301 for GET and HEAD, 308 (method and body kept) otherwise; the query
    /// stays.
    private func redirect(_ request: borrowing Request, _ response: inout ResponseWriter, to location: [UInt8]) {
        response.status = request.method == .get || request.method == .head ? .movedPermanently : .permanentRedirect
        try? response.header(name: "Location", value: String(decoding: location, as: UTF8.self))
        response.end()
    }
}

/// What every context of an app shares.
final class AppSettings: Sendable {
    let errorHandler: ErrorHandler
    init(errorHandler: @escaping ErrorHandler) { self.errorHandler = errorHandler }
}

/// Contexts per loop: each loop takes and returns its own without locks (only its thread touches its pool).
final class ContextPools: @unchecked Sendable {
    let loops: [LoopContextPool]
    /// `loops`, unretained: taking a loop's pool touches no shared reference count.
    private let refs: UnsafeMutablePointer<Unmanaged<LoopContextPool>>

    init(loops: Int, warm: Int, settings: AppSettings) {
        self.loops = (0..<loops).map { LoopContextPool(loopIndex: $0, warm: warm, settings: settings) }
        refs = .allocate(capacity: max(loops, 1))
        for (i, pool) in self.loops.enumerated() { (refs + i).initialize(to: .passUnretained(pool)) }
    }

    deinit { refs.deallocate() }

    /// Loop `index`'s pool, unretained (valid while `self` is).
    @inline(__always) func pool(_ index: Int) -> Unmanaged<LoopContextPool> {
        precondition(index >= 0 && index < loops.count, "Bolt: no context pool for loop \(index)")
        return refs[index]
    }
}

final class LoopContextPool: @unchecked Sendable {
    @exclusivity(unchecked) private var free: [Context]  // one thread uses a loop's pool
    @exclusivity(unchecked) private var made: Int
    let loopIndex: Int
    let settings: AppSettings

    init(loopIndex: Int, warm: Int, settings: AppSettings) {
        self.loopIndex = loopIndex
        self.settings = settings
        free = []
        made = warm
        free.reserveCapacity(max(warm, 16) * 2)
        for _ in 0..<warm { free.append(Context(pool: self)) }
    }

    @inline(__always) func acquire() -> Context {
        if let c = free.popLast() { return c }
        made += 1
        return Context(pool: self)
    }

    /// Contexts taken and not given back: requests running now, and tasks a timeout answered for that have not
    /// ended yet. Read on the loop's thread only.
    var inUse: Int { made - free.count }

    /// Contexts kept by someone after their request (see ``release(_:)``), since the pool was made.
    @exclusivity(unchecked) private(set) var retired = 0

    /// Takes `c` back, unless something still holds it (a task or a closure the handler let escape): then it
    /// stays unbound for good — any later use traps, as the docs promise — and is never handed to another
    /// request, which it could otherwise answer for. The check reads the reference count; it costs no atomic.
    @inline(__always) func release(_ c: inout Context) {
        if _fastPath(isKnownUniquelyReferenced(&c)) {
            free.append(c)
        } else {
            made -= 1
            retired += 1
        }
    }
}
