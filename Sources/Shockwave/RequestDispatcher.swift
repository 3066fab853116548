internal import CShockwave

/// What the C core calls for every request: the one `@convention(c)` trampoline and the box it finds the
/// handler in.
///
/// Ownership: ``Server/start()`` passes the box to C as the opaque `user` pointer with
/// `Unmanaged.passRetained` — the one retain the C core holds — and ``Server`` balances it with `release()`
/// after `sw_server_free`, when no loop thread can call back any more. Per request, the trampoline borrows
/// the box with `_withUnsafeGuaranteedRef`: no retain, no release, so loop threads never contend on the
/// box's reference count.
class RequestDispatcher: @unchecked Sendable {
    /// Answers one request; returns SW_DONE or SW_PENDING. Subclasses are specialized for a handler type.
    func dispatch(_ exchange: Exchange, _ request: UnsafePointer<sw_http_request_t>) -> Int32 {
        fatalError("RequestDispatcher.dispatch is abstract")
    }

    /// Whether the handler chooses body modes (``bodyMode(_:_:_:)`` is then called for each head with a body).
    var choosesBodyModes: Bool { false }

    /// For a head announcing a body: SW_BODY_BUFFER or SW_BODY_STREAM, and the stream's limit in `limit`.
    func bodyMode(
        _ exchange: Exchange, _ request: UnsafePointer<sw_http_request_t>, _ limit: UnsafeMutablePointer<UInt64>
    ) -> Int32 {
        Int32(SW_BODY_BUFFER)
    }

    /// Called once after the server has stopped and before the box is released.
    func serverStopped() {}
}

/// A request and its response in the C core (`sw_exchange_t`): what every response call and body read takes.
typealias Exchange = UnsafeMutablePointer<sw_exchange_t>

/// The loop index of an exchange (an index into per-loop tables).
@inline(__always)
func loopIndex(of exchange: Exchange) -> Int {
    Int(sw_loop_index(sw_exchange_loop(exchange)))
}

/// Runs a synchronous handler inline on the loop thread.
final class SyncDispatcher<Handler: HTTPHandler>: RequestDispatcher, @unchecked Sendable {
    let handler: Handler

    init(_ handler: Handler) {
        self.handler = handler
    }

    override func dispatch(_ exchange: Exchange, _ view: UnsafePointer<sw_http_request_t>) -> Int32 {
        let request = Request(view, exchange: exchange, loopIndex: loopIndex(of: exchange))
        var response = ResponseWriter(exchange: exchange)
        do {
            try handler.handle(request, &response)
            response.finishForHandler()
        } catch {
            response.fail()
        }
        return Int32(SW_DONE)
    }
}

/// The C callback: finds the dispatcher in `user` and hands it the request.
let requestTrampoline: sw_on_request_fn = { user, exchange, request in
    Unmanaged<RequestDispatcher>.fromOpaque(user.unsafelyUnwrapped)._withUnsafeGuaranteedRef {
        $0.dispatch(exchange.unsafelyUnwrapped, request.unsafelyUnwrapped)
    }
}

/// The close hook of a pending connection: cancels the handler's task (its `UnsafeCurrentTask` is the context).
private let cancelTaskOnClose: @convention(c) (UnsafeMutableRawPointer?) -> Void = { context in
    unsafeBitCast(context.unsafelyUnwrapped, to: UnsafeCurrentTask.self).cancel()
}

/// The C callback for heads announcing a body, set only for dispatchers that choose body modes.
let headTrampoline: sw_on_head_fn = { user, exchange, request, limit in
    Unmanaged<RequestDispatcher>.fromOpaque(user.unsafelyUnwrapped)._withUnsafeGuaranteedRef {
        $0.bodyMode(exchange.unsafelyUnwrapped, request.unsafelyUnwrapped, limit.unsafelyUnwrapped)
    }
}

/// Runs handlers in tasks on the loop's executor; the connection waits (SW_PENDING) meanwhile.
///
/// The exchange is pinned (`sw_exchange_pin`) from dispatch until the task ends, so its struct and the request
/// view stay valid even if the client resets, and the loop does not exit under the task.
class TaskDispatcher: RequestDispatcher, @unchecked Sendable {
    /// Every loop's executor, for ``serverStopped()``.
    private let executors = Locked<[LoopExecutor]>([])

    /// What the task needs from the loop thread; moved into the task and used only on that loop thread.
    struct Pending: @unchecked Sendable {
        let exchange: Exchange
        let view: sw_http_request_t
        let loopIndex: Int
        let thread: LoopThread
    }

    /// Parks the connection and runs ``runTask(_:_:tag:)`` in a task on the loop; returns SW_PENDING (or SW_DONE
    /// after answering 503 itself when the request cannot be kept).
    @inline(__always)
    final func suspend(_ exchange: Exchange, _ view: UnsafePointer<sw_http_request_t>, tag: Int) -> Int32 {
        // The parsed head's field table lives in an array the loop reuses for its next parse: the connection
        // keeps a copy while the task runs. Without memory for it, answer now rather than read a reused table.
        guard sw_exchange_keep_request(exchange) == 0 else {
            var response = ResponseWriter(exchange: exchange, owner: nil)
            response.status = .serviceUnavailable
            response.end()
            return Int32(SW_DONE)
        }
        let executor = LoopExecutor.current ?? makeExecutor(for: exchange)
        sw_exchange_pin(exchange)
        // The view struct lives on the C stack of this call; its pointers (head buffer, parsed head, body) live in
        // the connection, which the pin and the parked state keep.
        let pending = Pending(
            exchange: exchange, view: view.pointee, loopIndex: loopIndex(of: exchange), thread: .current)
        // The closure holds the executor: a task's preference does not keep its executor alive, and a job of this
        // task (a sleep waking up) must never reach a freed one, even after its server is gone.
        Task(executorPreference: executor) { [executor] in
            await self.respond(pending, tag: tag)
            withExtendedLifetime(executor) {}
        }
        return Int32(SW_PENDING)
    }

    /// The task's work: the subclass's handler. `tag` is what ``suspend(_:_:tag:)`` was given.
    func runTask(_ request: borrowing Request, _ response: inout ResponseWriter, tag: Int) async throws {
        fatalError("TaskDispatcher.runTask is abstract")
    }

    private func respond(_ pending: Pending, tag: Int) async {
        let exchange = pending.exchange
        defer {
            pending.thread.check()
            sw_exchange_unpin(exchange)
        }
        guard sw_exchange_is_open(exchange) != 0 else { return }
        // When the connection closes under the handler (the client went away, the shutdown deadline), its task is
        // cancelled: the handler stops at its next cancellation point instead of working for nobody (and keeping
        // a shutdown waiting). The task is alive while this function runs, which clears the hook before it ends.
        withUnsafeCurrentTask { task in
            guard let task else { return }
            sw_exchange_on_close(exchange, cancelTaskOnClose, unsafeBitCast(task, to: UnsafeMutableRawPointer.self))
        }
        defer { sw_exchange_on_close(exchange, nil, nil) }
        let request = withUnsafePointer(to: pending.view) {
            Request($0, exchange: exchange, loopIndex: pending.loopIndex)
        }
        var response = ResponseWriter(exchange: exchange, owner: pending.thread)
        do {
            try await runTask(request, &response, tag: tag)
            response.finishForHandler()
        } catch {
            response.failPending()
        }
    }


    private func makeExecutor(for exchange: Exchange) -> LoopExecutor {
        makeExecutor(loop: sw_exchange_loop(exchange))
    }

    /// Creates the executor of `loop`, registers it on the calling thread (the loop's) and keeps it.
    final func makeExecutor(loop: OpaquePointer) -> LoopExecutor {
        let executor = LoopExecutor(loop: loop)
        executor.registerOnCurrentThread()
        executors.withLock { $0.append(executor) }
        return executor
    }

    override func serverStopped() {
        executors.withLock { all in
            for executor in all { executor.stop() }
        }
    }
}

/// Runs an async handler in a task on the loop's executor.
final class AsyncDispatcher<Handler: AsyncHTTPHandler>: TaskDispatcher, @unchecked Sendable {
    let handler: Handler

    init(_ handler: Handler) {
        self.handler = handler
    }

    override func dispatch(_ exchange: Exchange, _ view: UnsafePointer<sw_http_request_t>) -> Int32 {
        suspend(exchange, view, tag: 0)
    }

    override func runTask(_ request: borrowing Request, _ response: inout ResponseWriter, tag: Int) async throws {
        try await handler.handle(request, &response)
    }

    override var choosesBodyModes: Bool { true }

    override func bodyMode(
        _ exchange: Exchange, _ view: UnsafePointer<sw_http_request_t>, _ limit: UnsafeMutablePointer<UInt64>
    ) -> Int32 {
        let request = Request(view, exchange: exchange, loopIndex: loopIndex(of: exchange))
        switch handler.bodyMode(for: request).storage {
        case .buffered:
            return Int32(SW_BODY_BUFFER)
        case .streamed(let maxSize):
            if let maxSize { limit.pointee = UInt64(maxSize) }
            return Int32(SW_BODY_STREAM)
        }
    }
}

/// Runs a mixed handler inline, and in a task when it asks.
final class MixedDispatcher<Handler: MixedHTTPHandler>: TaskDispatcher, @unchecked Sendable {
    let handler: Handler

    init(_ handler: Handler) {
        self.handler = handler
    }

    override func dispatch(_ exchange: Exchange, _ view: UnsafePointer<sw_http_request_t>) -> Int32 {
        let request = Request(view, exchange: exchange, loopIndex: loopIndex(of: exchange))
        var response = ResponseWriter(exchange: exchange)
        let disposition: HandlerDisposition
        do {
            disposition = try handler.handle(request, &response)
        } catch {
            response.fail()
            return Int32(SW_DONE)
        }
        switch disposition {
        case .done:
            response.finishForHandler()
            return Int32(SW_DONE)
        case .suspend(let tag):
            guard !response.isStarted else {
                assertionFailure("MixedHTTPHandler.handle started the response, then returned .suspend")
                response.finishForHandler()
                return Int32(SW_DONE)
            }
            return suspend(exchange, view, tag: tag)
        }
    }

    override func runTask(_ request: borrowing Request, _ response: inout ResponseWriter, tag: Int) async throws {
        try await handler.handleAsync(request, &response, tag: tag)
    }
}
