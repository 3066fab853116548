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
    func dispatch(_ connection: OpaquePointer, _ request: UnsafePointer<sw_http_request_t>) -> Int32 {
        fatalError("RequestDispatcher.dispatch is abstract")
    }

    /// Called once after the server has stopped and before the box is released.
    func serverStopped() {}
}

/// The loop index of a connection (an index into per-loop tables).
@inline(__always)
func loopIndex(of connection: OpaquePointer) -> Int {
    Int(sw_loop_index(sw_conn_loop(connection)))
}

/// Runs a synchronous handler inline on the loop thread.
final class SyncDispatcher<Handler: HTTPHandler>: RequestDispatcher, @unchecked Sendable {
    let handler: Handler

    init(_ handler: Handler) {
        self.handler = handler
    }

    override func dispatch(_ connection: OpaquePointer, _ view: UnsafePointer<sw_http_request_t>) -> Int32 {
        let request = Request(view, loopIndex: loopIndex(of: connection))
        var response = ResponseWriter(connection: connection)
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
let requestTrampoline: sw_on_request_fn = { user, connection, request in
    Unmanaged<RequestDispatcher>.fromOpaque(user.unsafelyUnwrapped)._withUnsafeGuaranteedRef {
        $0.dispatch(connection.unsafelyUnwrapped, request.unsafelyUnwrapped)
    }
}
