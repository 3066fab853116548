/// Answers 503 when an `async` route takes longer than `duration` (through the app's error handler, so the body
/// is the usual JSON), and cancels the handler's task.
///
/// Cancellation is cooperative: the handler goes on until it reaches a cancellation point (`Task.sleep`,
/// `Task.checkCancellation()`, most async I/O). Until it ends, its context is not reused and its writes to the
/// response are dropped (``Context/timedOut`` is true); the context returns to its pool only when the task is
/// over. Timeout is an ``AsyncMiddleware`` only: a route behind it runs in a task.
public struct Timeout: AsyncMiddleware {
    /// The time a route may take.
    public let duration: Duration

    public init(_ duration: Duration) { self.duration = duration }

    public func handle(_ c: Context, next: AsyncNext) async throws {
        // The children run on the same loop thread as this task (they inherit its executor), one at a time, so
        // sharing the context with them is safe even though it is not Sendable.
        let shared = UncheckedSendable((c, next))
        let duration = self.duration
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await shared.value.1()
                return true
            }
            group.addTask {
                try await Task.sleep(for: duration)
                return false
            }
            let handlerFinished = try await group.next() ?? true
            if !handlerFinished {
                let c = shared.value.0
                // 503 when nothing was sent; a response the handler began (a stream) is aborted: the client sees it
                // cut short, not a truncated answer that looks whole
                c.fail(with: HTTPError(.serviceUnavailable, "the request took longer than \(duration)"))
                c.timedOut = true
            }
            group.cancelAll()
            // wait for the other child: the handler's context must not go back to the pool under it
            while !group.isEmpty {
                _ = try? await group.next()
            }
        }
    }
}

/// A value moved into child tasks that run on the same serial loop executor as their parent.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
