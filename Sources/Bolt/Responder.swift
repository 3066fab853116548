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

        init(pattern: String?, sync: SyncChain?, async: AsyncChain?) {
            self.pattern = pattern
            self.sync = sync
            self.async = async
        }
    }

    let router: Router
    let routes: [CompiledRoute]
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
        self.routes = compiled
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
        let pool = pools.loops[request.loopIndex]
        let c = pool.acquire()
        defer { pool.release(c) }
        let route: CompiledRoute
        let tag: Int
        switch router.lookup(request.method, path: request.path, into: &c.params) {
        case .found(let index):
            route = routes[index]
            tag = index
        case .notFound:
            route = notFound
            tag = Self.notFoundTag
        case .methodNotAllowed(let allowed):
            c.allowed = allowed
            route = methodNotAllowed
            tag = Self.methodNotAllowedTag
        case .redirect(let change):
            redirect(request, &response, change)
            return .done
        }
        guard let chain = route.sync else { return .suspend(tag: tag) }
        let errorHandler = settings.errorHandler
        c.bind(request, &response) { c in
            c.route = route.pattern
            do {
                try chain.run(c, from: 0)
            } catch {
                errorHandler(c, error)
            }
        }
        return .done
    }

    func handleAsync(_ request: borrowing Request, _ response: inout ResponseWriter, tag: Int) async throws {
        let pool = pools.loops[request.loopIndex]
        let c = pool.acquire()
        defer { pool.release(c) }
        let route: CompiledRoute
        switch tag {
        case Self.notFoundTag: route = notFound
        case Self.methodNotAllowedTag:
            if case .methodNotAllowed(let allowed) = router.lookup(request.method, path: request.path, into: &c.params) {
                c.allowed = allowed
            }
            route = methodNotAllowed
        default:
            _ = router.lookup(request.method, path: request.path, into: &c.params)
            route = routes[tag]
        }
        let chain = route.async.unsafelyUnwrapped
        let errorHandler = settings.errorHandler
        await c.bind(request, &response) { c in
            c.route = route.pattern
            do {
                try await chain.run(c, from: 0)
            } catch {
                errorHandler(c, error)
            }
        }
    }

    /// The trailing-slash redirect: 301 for GET and HEAD, 308 (method and body kept) otherwise; the query
    /// stays.
    private func redirect(_ request: borrowing Request, _ response: inout ResponseWriter, _ change: RouteMatch.TrailingSlash) {
        var location = Array(request.path)
        switch change {
        case .add: location.append(UInt8(ascii: "/"))
        case .remove: location.removeLast()
        }
        if request.hasQuery {
            location.append(UInt8(ascii: "?"))
            location += request.query
        }
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
final class ContextPools: Sendable {
    let loops: [LoopContextPool]

    init(loops: Int, warm: Int, settings: AppSettings) {
        self.loops = (0..<loops).map { LoopContextPool(loopIndex: $0, warm: warm, settings: settings) }
    }
}

final class LoopContextPool: @unchecked Sendable {
    private var free: [Context]
    let loopIndex: Int
    let settings: AppSettings

    init(loopIndex: Int, warm: Int, settings: AppSettings) {
        self.loopIndex = loopIndex
        self.settings = settings
        free = (0..<warm).map { _ in Context(loopIndex: loopIndex, settings: settings) }
        free.reserveCapacity(max(warm, 16) * 2)
    }

    @inline(__always) func acquire() -> Context {
        free.popLast() ?? Context(loopIndex: loopIndex, settings: settings)
    }

    @inline(__always) func release(_ c: Context) {
        free.append(c)
    }
}
