#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// The identity of an event-loop thread, for the checks that keep connection state on its own thread.
struct LoopThread: @unchecked Sendable {
    let thread: pthread_t

    /// The calling thread.
    static var current: LoopThread { LoopThread(thread: pthread_self()) }

    var isCurrent: Bool { pthread_equal(pthread_self(), thread) != 0 }

    /// Traps unless called on this thread: a response must be written on its connection's loop thread.
    func check() {
        precondition(
            isCurrent,
            "a ResponseWriter was used off its event-loop thread; do not hand it to another actor or thread")
    }
}
