// A value behind the core's small mutex (sw_lock.h), for the package's own state that several threads touch
// (server state, loop executors, Bolt's app and log buffers).

package import CShockwave  // package: withLock is inlined into Bolt, and calls sw_lock_*

/// A value guarded by a mutex that ThreadSanitizer can follow; non-copyable, like `Synchronization.Mutex`.
///
/// Used instead of `Synchronization.Mutex`, whose contended path on Linux (a priority-inheritance futex that the
/// kernel hands from one thread to the next) happens outside instrumented code: ThreadSanitizer then sees two
/// threads touch the guarded value with nothing ordering them and reports a race that is not one. Uncontended,
/// both cost one atomic operation to lock and one to unlock (see `sw_lock.h`); nothing is reference-counted,
/// so taking the lock touches no shared counter.
package struct Locked<Value: ~Copyable>: ~Copyable, @unchecked Sendable {
    @usableFromInline let lock: UnsafeMutablePointer<sw_lock_t>  // touched only by sw_lock_* (atomics)
    @usableFromInline let value: UnsafeMutablePointer<Value>

    package init(_ value: consuming Value) {
        lock = .allocate(capacity: 1)
        lock.initialize(to: sw_lock_t())
        self.value = .allocate(capacity: 1)
        self.value.initialize(to: value)
    }

    deinit {
        value.deinitialize(count: 1)
        value.deallocate()
        lock.deallocate()
    }

    /// Runs `body` with the value while holding the lock. Inlinable: a generic call across modules would cost
    /// more than the lock itself.
    @inlinable
    package func withLock<Result: ~Copyable, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        sw_lock_acquire(lock)
        defer { sw_lock_release(lock) }
        return try body(&value.pointee)
    }
}
