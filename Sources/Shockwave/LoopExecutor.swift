internal import CShockwave

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// The task executor of one event loop: jobs enqueued from any thread are posted to the loop
/// (`sw_loop_post`, which wakes it through its eventfd or ring) and run on the loop thread, in order.
///
/// Created on its loop thread at the first async request and registered in that thread's slot
/// (``LoopExecutor/current``), which the post callback reads: the callback gets only the job, and a loop
/// thread serves one server. After the server stops, jobs still arriving — only from tasks that outlived
/// their request — go to the global concurrent executor instead of a loop that is gone.
final class LoopExecutor: TaskExecutor, @unchecked Sendable {
    /// The loop, until the server stops (then nil).
    private let loop: Locked<LoopPointer?>

    struct LoopPointer: @unchecked Sendable {
        let pointer: OpaquePointer  // sw_loop_t *
    }

    init(loop: OpaquePointer) {
        self.loop = Locked(LoopPointer(pointer: loop))
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        // UnownedJob is one pointer (the runtime's Job *): it travels as the post's context.
        let context = unsafeBitCast(unowned, to: UnsafeMutableRawPointer.self)
        // A job of a loop's task touches that loop's state (its connection, its pools): it runs on the loop thread
        // or nowhere. Posting fails only without memory for the post: retry a while (memory may come back), then
        // stop the process rather than run the job on another thread.
        for attempt in 0..<1000 {
            let rc: Int32? = loop.withLock { loop in
                guard let loop else { return nil }
                return sw_loop_post(loop.pointer, runPostedJob, context)
            }
            guard let rc else {
                // The server has stopped and its loops are gone: only a task that outlived its request (and its
                // connection) gets here; it can touch no loop state any more (writes see a closed connection).
                globalConcurrentExecutor.enqueue(ExecutorJob(unowned))
                return
            }
            if rc == 0 { return }
            if attempt < 999 { usleep(1000) }
        }
        fatalError("Shockwave: no memory to post a task's job to its event loop for 1 s (sw_loop_post: ENOMEM)")
    }

    /// Called once the loop threads have exited, before the C server is freed.
    func stop() {
        loop.withLock { $0 = nil }
    }

    /// The executor of the loop running on the calling thread, or nil.
    static var current: LoopExecutor? {
        guard let raw = pthread_getspecific(threadSlot) else { return nil }
        return Unmanaged<LoopExecutor>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Registers `self` as the calling (loop) thread's executor. The dispatcher keeps it alive.
    func registerOnCurrentThread() {
        pthread_setspecific(threadSlot, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Clears the calling thread's slot if it holds `self` (an in-process server going away).
    func unregisterFromCurrentThread() {
        if pthread_getspecific(threadSlot) == Unmanaged.passUnretained(self).toOpaque() {
            pthread_setspecific(threadSlot, nil)
        }
    }
}

/// A thread-specific slot holding the loop thread's executor (unretained).
private let threadSlot: pthread_key_t = {
    var key = pthread_key_t()
    let rc = pthread_key_create(&key, nil)
    precondition(rc == 0, "pthread_key_create failed")
    return key
}()

/// Runs a posted job on the loop thread (the C core calls it from its posted-work queue).
private let runPostedJob: @convention(c) (UnsafeMutableRawPointer?) -> Void = { context in
    let job = unsafeBitCast(context.unsafelyUnwrapped, to: UnownedJob.self)
    guard let executor = LoopExecutor.current else {
        preconditionFailure("a loop job ran on a thread without a loop executor")
    }
    job.runSynchronously(on: executor.asUnownedTaskExecutor())
}
