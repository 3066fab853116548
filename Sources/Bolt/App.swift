
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A Bolt application: routes, middleware and how to serve them.
///
/// ```swift
/// let app = App()
/// app.use(Logger(), Recover())
/// app.get("/plaintext") { c in c.text("Hello, World!") }
/// app.get("/users/:id") { c in try c.json(User(id: c.param("id") ?? "")) }
/// let api = app.group("/api", BasicAuth(username: "ada", password: "secret"))
/// api.post("/todos") { c async throws in ... }
/// try app.run()  // until SIGINT/SIGTERM, then a graceful shutdown
/// ```
///
/// Routes and middleware are registered first; the app compiles them when it starts (``run()``, ``start()``,
/// or the first in-process test) into an immutable router and one flat chain per route, and cannot change
/// afterwards: registering then is a programming error and traps. Registration problems (an invalid pattern,
/// two routes that conflict) are reported by the start, with both routes named.
public final class App: RoutesBuilder, @unchecked Sendable {
    /// How the app serves.
    public struct Configuration: Sendable {
        /// The server's address, loops, limits and timeouts.
        public var server: ServerConfiguration
        /// Contexts created per loop when the app starts (more are made on demand and then kept).
        public var contextsPerLoop: Int
        /// Answer a request for `/a/` when only `/a` exists (or the reverse) with a redirect (301 for GET and
        /// HEAD, 308 otherwise) instead of 404.
        public var redirectsTrailingSlash: Bool
        /// Turns a thrown error (or 404/405) into a response; see ``defaultErrorHandler``.
        public var errorHandler: ErrorHandler

        /// The defaults: port 8080 on all interfaces, one loop per CPU, 64 contexts per loop, trailing-slash
        /// redirects on, JSON error bodies.
        public init(
            server: ServerConfiguration = .init(port: 8080), contextsPerLoop: Int = 64, redirectsTrailingSlash: Bool = true,
            errorHandler: @escaping ErrorHandler = defaultErrorHandler
        ) {
            self.server = server
            self.contextsPerLoop = contextsPerLoop
            self.redirectsTrailingSlash = redirectsTrailingSlash
            self.errorHandler = errorHandler
        }
    }

    struct Route {
        let method: HTTPMethod?  // nil: any method
        let pattern: String
        let middleware: [any MiddlewareProtocol]
        let handler: RouteHandler
    }

    private struct State {
        var configuration: Configuration
        var routes: [Route] = []
        var global: [any MiddlewareProtocol] = []
        var compiled: Responder?
        /// Servers ``start()`` made: the app keeps them running (a discarded result must not stop one).
        var started: [Server] = []
    }

    private let state: Locked<State>

    /// An app with `configuration`.
    public init(configuration: Configuration = .init()) {
        state = Locked(State(configuration: configuration))
    }

    /// The configuration; set it before the app starts.
    public var configuration: Configuration {
        get { state.withLock { $0.configuration } }
        set {
            state.withLock { state in
                precondition(state.compiled == nil, "Bolt: the configuration was changed after the app started")
                state.configuration = newValue
            }
        }
    }

    /// Adds middleware around every route (registered before or after this call) and around the 404 and 405
    /// answers, in the order given, outside any group's middleware.
    public func use(_ middleware: any MiddlewareProtocol...) {
        state.withLock { state in
            precondition(state.compiled == nil, "Bolt: middleware was added after the app started")
            state.global += middleware
        }
    }

    /// Adds a synchronous middleware closure around every route: `app.use { c, next in …; try next() }`.
    public func use(_ body: @escaping @Sendable (Context, Next) throws -> Void) {
        use(ClosureMiddleware(body))
    }

    /// Adds an async middleware closure around every route (which makes every route run in a task).
    public func use(_ body: @escaping @Sendable (Context, AsyncNext) async throws -> Void) {
        use(AsyncClosureMiddleware(body))
    }

    /// Registers a route (``RoutesBuilder``).
    public func add(_ method: HTTPMethod?, _ path: String, _ handler: RouteHandler) {
        add(method, path, middleware: [], handler)
    }

    func add(_ method: HTTPMethod?, _ path: String, middleware: [any MiddlewareProtocol], _ handler: RouteHandler) {
        state.withLock { state in
            precondition(state.compiled == nil, "Bolt: route \(path) was added after the app started")
            state.routes.append(Route(method: method, pattern: path, middleware: middleware, handler: handler))
        }
    }

    /// A group of routes under `prefix`, with `middleware` around them (inside the app's).
    public func group(_ prefix: String, _ middleware: any MiddlewareProtocol...) -> RouteGroup {
        RouteGroup(app: self, prefix: prefix, middleware: middleware)
    }

    /// The compiled app: router, chains and context pools (made once, at the first start or test).
    ///
    /// - Throws: ``BoltError`` for an invalid or conflicting route, or an async route behind middleware that
    ///   has no async form.
    func responder() throws(BoltError) -> Responder {
        try state.withLock { state throws(BoltError) in
            if let compiled = state.compiled { return compiled }
            let compiled = try Responder(
                routes: state.routes, global: state.global, configuration: state.configuration)
            state.compiled = compiled
            return compiled
        }
    }

    /// A server for this app, not started yet (compiles the app). `configuration` replaces the app's server
    /// configuration (address, loops) for this server.
    public func makeServer(configuration server: ServerConfiguration? = nil) throws -> Server {
        var responder = try responder()
        var server = server ?? configuration.server
        // every server has contexts of its own: two servers of one app (a live test beside the real one) never
        // share a loop's pool. The loop count is settled here and handed to the server, so the pools and the
        // loops cannot disagree (a loop without a pool would trap).
        let loops = server.loops ?? max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        server.loops = loops
        responder.pools = ContextPools(loops: loops, warm: configuration.contextsPerLoop, settings: responder.settings)
        return Server(configuration: server, handler: responder)
    }

    /// An in-process server for this app (no sockets; see ``InProcessServer``), with contexts of its own: it
    /// may run beside a live server of the same app. Use it from the thread that created it.
    public func makeInProcessServer() throws -> InProcessServer {
        var responder = try responder()
        responder.pools = ContextPools(loops: 1, warm: 4, settings: responder.settings)
        var server = configuration.server
        server.loops = 1
        return try InProcessServer(configuration: server, handler: responder)
    }

    /// Starts serving and returns the running server. The app keeps it running until it is stopped
    /// (``shutdown(deadline:)`` here or ``Server/shutdown(deadline:)``), so the result may be ignored.
    @discardableResult
    public func start() throws -> Server {
        let server = try makeServer()
        try server.start()
        state.withLock { state in
            state.started.removeAll { !$0.isRunning }
            state.started.append(server)
        }
        return server
    }

    /// Begins a graceful shutdown of the servers ``start()`` started (see ``Server/shutdown(deadline:)``).
    public func shutdown(deadline: Duration = .seconds(10)) {
        for server in state.withLock({ $0.started }) { server.shutdown(deadline: deadline) }
    }

    /// Blocks until the servers ``start()`` started have stopped, then lets them go.
    public func wait() {
        for server in state.withLock({ $0.started }) { server.wait() }
        state.withLock { state in state.started.removeAll { !$0.isRunning } }
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully: requests already received are answered, and
    /// the ``Logger``s write out what they still hold. Blocks the calling thread; from async code (an `async`
    /// main) use ``run()-(async)``, which leaves the main actor free to run.
    public func run() throws {
        let server = try makeServer()
        server.shutdownOnSignals()
        defer { LogPipeline.flushAll() }  // the access log of the last requests, before the process ends
        try server.run()
    }

    /// Serves until SIGINT or SIGTERM or until the calling task is cancelled, then shuts down gracefully
    /// (within `shutdownDeadline`); suspends meanwhile without blocking a thread, so `@MainActor` code and other
    /// tasks go on running.
    ///
    /// ```swift
    /// @main struct Service {
    ///     static func main() async throws {
    ///         let app = App()
    ///         app.get("/") { c in c.text("hi") }
    ///         try await app.run()
    ///     }
    /// }
    /// ```
    public func run(shutdownDeadline: Duration = .seconds(10)) async throws {
        let server = try makeServer()
        server.shutdownOnSignals(deadline: shutdownDeadline)
        defer { LogPipeline.flushAll() }
        try await server.run(shutdownDeadlineOnCancel: shutdownDeadline)
    }
}

/// A route's handler, synchronous or `async`.
public enum RouteHandler: Sendable {
    case sync(Handler)
    case async(AsyncHandler)
}

/// What can take routes: the ``App`` and its ``RouteGroup``s.
public protocol RoutesBuilder {
    /// Registers `handler` for `method` (nil: any method) at `path`.
    func add(_ method: HTTPMethod?, _ path: String, _ handler: RouteHandler)
}

extension RoutesBuilder {
    /// `GET path` (also answers `HEAD`).
    public func get(_ path: String, _ handler: @escaping Handler) { add(.get, path, .sync(handler)) }
    /// `GET path` with an async handler.
    public func get(_ path: String, _ handler: @escaping AsyncHandler) { add(.get, path, .async(handler)) }
    /// `POST path`.
    public func post(_ path: String, _ handler: @escaping Handler) { add(.post, path, .sync(handler)) }
    /// `POST path` with an async handler.
    public func post(_ path: String, _ handler: @escaping AsyncHandler) { add(.post, path, .async(handler)) }
    /// `PUT path`.
    public func put(_ path: String, _ handler: @escaping Handler) { add(.put, path, .sync(handler)) }
    /// `PUT path` with an async handler.
    public func put(_ path: String, _ handler: @escaping AsyncHandler) { add(.put, path, .async(handler)) }
    /// `PATCH path`.
    public func patch(_ path: String, _ handler: @escaping Handler) { add(.patch, path, .sync(handler)) }
    /// `PATCH path` with an async handler.
    public func patch(_ path: String, _ handler: @escaping AsyncHandler) { add(.patch, path, .async(handler)) }
    /// `DELETE path`.
    public func delete(_ path: String, _ handler: @escaping Handler) { add(.delete, path, .sync(handler)) }
    /// `DELETE path` with an async handler.
    public func delete(_ path: String, _ handler: @escaping AsyncHandler) { add(.delete, path, .async(handler)) }
    /// `HEAD path` (GET routes answer HEAD already; this overrides that).
    public func head(_ path: String, _ handler: @escaping Handler) { add(.head, path, .sync(handler)) }
    /// `HEAD path` with an async handler.
    public func head(_ path: String, _ handler: @escaping AsyncHandler) { add(.head, path, .async(handler)) }
    /// `OPTIONS path`.
    public func options(_ path: String, _ handler: @escaping Handler) { add(.options, path, .sync(handler)) }
    /// `OPTIONS path` with an async handler.
    public func options(_ path: String, _ handler: @escaping AsyncHandler) { add(.options, path, .async(handler)) }
    /// Every method at `path`.
    public func any(_ path: String, _ handler: @escaping Handler) { add(nil, path, .sync(handler)) }
    /// Every method at `path`, with an async handler.
    public func any(_ path: String, _ handler: @escaping AsyncHandler) { add(nil, path, .async(handler)) }
}

/// Routes under a common prefix with middleware of their own: `let api = app.group("/api", auth)`.
public struct RouteGroup: RoutesBuilder, Sendable {
    let app: App
    let prefix: String
    let middleware: [any MiddlewareProtocol]

    /// Registers a route under the group's prefix, inside the group's middleware.
    public func add(_ method: HTTPMethod?, _ path: String, _ handler: RouteHandler) {
        app.add(method, joinPaths(prefix, path), middleware: middleware, handler)
    }

    /// A nested group: its prefix follows this one's, its middleware runs inside this one's.
    public func group(_ prefix: String, _ middleware: any MiddlewareProtocol...) -> RouteGroup {
        RouteGroup(app: app, prefix: joinPaths(self.prefix, prefix), middleware: self.middleware + middleware)
    }
}

/// `/api` + `/users` = `/api/users`; `/api` + `/` = `/api/`; an empty side adds nothing.
func joinPaths(_ prefix: String, _ path: String) -> String {
    if path.isEmpty { return prefix }
    if prefix.isEmpty || prefix == "/" { return path.hasPrefix("/") ? path : "/" + path }
    let head = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
    return path.hasPrefix("/") ? head + path : head + "/" + path
}

/// A problem found when the app starts.
public struct BoltError: Error, Sendable, CustomStringConvertible {
    /// What is wrong, naming the routes and middleware involved.
    public var message: String
    public var description: String { message }
    init(_ message: String) { self.message = message }
}
