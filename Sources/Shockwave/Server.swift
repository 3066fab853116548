internal import CShockwave

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// An HTTP/1.1 server: N event loops, one thread each, answering requests with a handler.
///
/// ```swift
/// let server = Server(configuration: .init(port: 8080)) { request, response in
///     response.contentType = .plainText
///     response.body("Hello, World!" as StaticString)
/// }
/// server.shutdownOnSignals()
/// try server.run()  // returns after SIGINT or SIGTERM, once in-flight requests are answered
/// ```
///
/// Lifecycle: ``start()`` binds and starts the loops and returns; ``shutdown(deadline:)`` begins a graceful
/// stop; ``wait()`` blocks until the loops have exited. ``run()`` is start plus wait. A server runs once.
///
/// Thread safety: every method may be called from any thread. The handler runs on the loop threads.
public final class Server: Sendable {
    /// The configuration the server was created with.
    public let configuration: ServerConfiguration

    let dispatcher: RequestDispatcher

    /// The C server, owned by the state below.
    private struct ServerHandle: @unchecked Sendable {
        let pointer: OpaquePointer  // sw_server_t *
    }

    private enum Phase {
        case idle
        case starting
        case running(ServerHandle)
        case stopped
    }

    private struct State: ~Copyable {
        var phase: Phase = .idle
        var port: Int = 0
        var backend: ServerConfiguration.Backend = .auto
        var loopCount: Int = 0
        /// A thread is inside sw_server_wait; others wait for it to finish.
        var joining = false
        var signalSources: [SignalSource] = []
    }

    private let state = Locked(State())

    /// A server that answers every request with `handler`, inline on the loop threads.
    public init<Handler: HTTPHandler>(configuration: ServerConfiguration = .init(), handler: Handler) {
        Self.checkLayouts()
        self.configuration = configuration
        self.dispatcher = SyncDispatcher(handler)
    }

    /// A server that answers every request with a closure, inline on the loop threads.
    public convenience init(
        configuration: ServerConfiguration = .init(),
        handler: @escaping @Sendable (borrowing Request, inout ResponseWriter) throws -> Void
    ) {
        self.init(configuration: configuration, handler: ClosureHandler(handler))
    }

    /// A server that answers every request with an async handler, each in a task on its loop thread (see
    /// ``AsyncHTTPHandler``).
    public init<Handler: AsyncHTTPHandler>(configuration: ServerConfiguration = .init(), handler: Handler) {
        Self.checkLayouts()
        self.configuration = configuration
        self.dispatcher = AsyncDispatcher(handler)
    }

    /// A server that answers every request with an async closure, each in a task on its loop thread.
    public convenience init(
        configuration: ServerConfiguration = .init(),
        handler: @escaping @Sendable (borrowing Request, inout ResponseWriter) async throws -> Void
    ) {
        self.init(configuration: configuration, handler: AsyncClosureHandler(handler))
    }

    /// A server whose handler answers inline or, when it asks, in a task on the loop thread (see
    /// ``MixedHTTPHandler``).
    public init<Handler: MixedHTTPHandler>(configuration: ServerConfiguration = .init(), handler: Handler) {
        Self.checkLayouts()
        self.configuration = configuration
        self.dispatcher = MixedDispatcher(handler)
    }

    deinit {
        // Dropped while running: stop at once and join, so no loop thread outlives the handler.
        shutdown(deadline: .zero)
        wait()
    }

    /// The C layouts the inlinable Swift views read directly.
    private static func checkLayouts() {
        precondition(
            MemoryLayout<sw_header_t>.stride == 16 && MemoryLayout<sw_header_t>.offset(of: \.value) == 8
                && MemoryLayout<sw_span_t>.offset(of: \.len) == 4,
            "sw_header_t layout differs from what RequestHeaders reads")
    }

    /// Binds the listeners (one per loop, `SO_REUSEPORT`) and starts the loop threads; returns once they
    /// accept connections.
    ///
    /// - Throws: ``ServerError``: the address is in use or not local, the port needs privileges, an explicit
    ///   backend is unavailable, a configuration value is out of range, or the server was already started.
    public func start() throws(ServerError) {
        var c = try configuration.cConfiguration()
        let claimed = state.withLock { state in
            guard case .idle = state.phase else { return false }
            state.phase = .starting
            return true
        }
        guard claimed else {
            throw ServerError(kind: .alreadyStarted, code: 0, message: "the server was already started")
        }
        // The C core's reference to the dispatcher; balanced in wait() after sw_server_free.
        let user = Unmanaged.passRetained(dispatcher)
        c.on_request = requestTrampoline
        c.on_head = dispatcher.choosesBodyModes ? headTrampoline : nil
        c.user = user.toOpaque()
        var server: OpaquePointer? = nil
        let rc = configuration.host.withCString { host in
            c.host = host
            guard let name = configuration.serverName else { return sw_server_start(&c, &server) }
            return name.withCString { name in
                c.server_name = name
                return sw_server_start(&c, &server)
            }
        }
        guard rc == 0, let server else {
            user.release()
            state.withLock { $0.phase = .idle }
            throw ServerError(startingOn: configuration.host, port: configuration.port, errno: rc)
        }
        let handle = ServerHandle(pointer: server)
        let port = Int(sw_server_port(server))
        let backend: ServerConfiguration.Backend = sw_server_backend(server) == SW_BACKEND_URING ? .uring : .epoll
        let loops = Int(sw_server_loop_count(server))
        state.withLock { state in
            state.phase = .running(handle)
            state.port = port
            state.backend = backend
            state.loopCount = loops
        }
    }

    /// The bound port: the configured one, or the one the kernel picked for port 0. 0 before ``start()``.
    public var port: Int { state.withLock { $0.port } }

    /// The backend in use after ``start()``: ``ServerConfiguration/Backend/uring`` or
    /// ``ServerConfiguration/Backend/epoll`` (``ServerConfiguration/Backend/auto`` before).
    public var backend: ServerConfiguration.Backend { state.withLock { $0.backend } }

    /// The number of event loops after ``start()`` (0 before).
    public var loopCount: Int { state.withLock { $0.loopCount } }

    /// Whether the server has started and its loops have not all exited yet.
    public var isRunning: Bool {
        state.withLock { if case .running = $0.phase { true } else { false } }
    }

    /// Begins a graceful shutdown and returns at once; ``wait()`` blocks until it is over.
    ///
    /// The listeners close (new connections are refused); idle keep-alive connections close now; requests
    /// already received or being read are answered, with `Connection: close`; after `deadline`, the
    /// connections left are closed. Calling it again, for example with `.zero` on a second Ctrl-C, shortens
    /// the deadline. Does nothing before ``start()`` or after the server stopped.
    public func shutdown(deadline: Duration = .seconds(10)) {
        let (seconds, attoseconds) = deadline.components
        let ms = max(0, min(Int64(UInt32.max), seconds &* 1000 &+ attoseconds / 1_000_000_000_000_000))
        state.withLock { state in
            if case .running(let server) = state.phase {
                sw_server_shutdown(server.pointer, UInt32(ms))
            }
        }
    }

    /// Blocks the calling thread until every loop has exited (after ``shutdown(deadline:)``), then frees the
    /// server. Returns at once before ``start()`` or after the server stopped. Do not call it from a handler
    /// (a loop would wait for itself) or from a Swift concurrency task (it blocks a cooperative thread).
    public func wait() {
        // One thread joins the loops; any other waits for that thread to finish.
        let server: ServerHandle? = state.withLock { state in
            guard case .running(let server) = state.phase, !state.joining else { return nil }
            state.joining = true
            return server
        }
        guard let server else {
            while state.withLock({ $0.joining }) { usleep(10_000) }
            return
        }
        sw_server_wait(server.pointer)
        dispatcher.serverStopped()
        state.withLock { state in
            sw_server_free(server.pointer)
            state.phase = .stopped
            state.joining = false
            state.signalSources = []
        }
        // Balances the passRetained in start(): no loop thread can call the trampoline any more.
        Unmanaged.passUnretained(dispatcher).release()
    }

    /// Starts the server and blocks the calling thread until it has shut down (see ``shutdown(deadline:)`` and
    /// ``shutdownOnSignals(deadline:)``). From async code — an `async` main, a `ServiceGroup` — use
    /// ``run()-(async)``, which leaves the thread free: on Linux, blocking the main thread keeps the main actor
    /// from ever running, so a handler awaiting `@MainActor` code would hang.
    public func run() throws(ServerError) {
        try start()
        wait()
    }

    /// Starts the server and suspends until it has shut down, without blocking a thread of the caller's:
    /// the main actor and the cooperative pool go on running (a handler may await `@MainActor` code).
    ///
    /// Cancelling the calling task begins a graceful shutdown (with `deadline`) and the call returns once it is
    /// over, as after ``shutdown(deadline:)`` or a signal (``shutdownOnSignals(deadline:)``).
    public func run(shutdownDeadlineOnCancel deadline: Duration = .seconds(10)) async throws(ServerError) {
        try start()
        await withTaskCancellationHandler {
            await waitAsync()
        } onCancel: {
            shutdown(deadline: deadline)
        }
    }

    /// Suspends until every loop has exited and the server is freed (``wait()`` on a thread of its own).
    public func waitAsync() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let waiter = Waiter(server: self, done: done)
            var thread = pthread_t()
            let box = Unmanaged.passRetained(waiter).toOpaque()
            let rc = pthread_create(&thread, nil, { raw in
                let waiter = Unmanaged<Waiter>.fromOpaque(raw.unsafelyUnwrapped).takeRetainedValue()
                waiter.server.wait()
                waiter.done.resume()
                return nil
            }, box)
            if rc == 0 {
                pthread_detach(thread)
            } else {
                // no thread for the wait: block this one rather than never return
                let waiter = Unmanaged<Waiter>.fromOpaque(box).takeRetainedValue()
                waiter.server.wait()
                waiter.done.resume()
            }
        }
    }

    /// What the waiting thread needs.
    private final class Waiter: @unchecked Sendable {
        let server: Server
        let done: CheckedContinuation<Void, Never>
        init(server: Server, done: CheckedContinuation<Void, Never>) {
            self.server = server
            self.done = done
        }
    }

    /// Runs `body` with the C server and its loop count while the server runs (under the state lock, so the
    /// server cannot be freed meanwhile); nil otherwise.
    func withRunningServer<R>(_ body: (OpaquePointer, Int) -> R) -> R? {
        state.withLock { state in
            guard case .running(let server) = state.phase else { return nil }
            return body(server.pointer, state.loopCount)
        }
    }

    /// Keeps signal sources alive as long as the server runs.
    func retain(_ sources: [SignalSource]) {
        state.withLock { $0.signalSources += sources }
    }
}
