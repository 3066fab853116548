#if canImport(Glibc)
import Glibc
#endif

/// A workload made on first use by the thread that uses it, and made again if another thread asks: Bolt's
/// in-process servers belong to the thread that created them (package-benchmark decides which thread runs a
/// benchmark closure).
public final class PerThread<W>: @unchecked Sendable {
    private let make: () throws -> W
    private var owner: pthread_t?
    private var made: W?

    public init(_ make: @escaping () throws -> W) { self.make = make }

    public func get() throws -> W {
        let me = pthread_self()
        if let made, let owner, pthread_equal(owner, me) != 0 { return made }
        let w = try make()
        made = w
        owner = me
        return w
    }
}
