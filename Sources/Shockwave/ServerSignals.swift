internal import Dispatch
internal import Synchronization

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// A dispatch signal source kept alive by the server.
struct SignalSource: @unchecked Sendable {
    let source: any DispatchSourceSignal
}

extension Server {
    /// Shuts the server down gracefully on SIGINT (Ctrl-C) or SIGTERM (what `kill`, systemd and container
    /// runtimes send), for executables that have no signal handling of their own.
    ///
    /// The first signal calls ``shutdown(deadline:)`` with `deadline`; a second one closes every connection at
    /// once. The signals' default action (terminating the process) is turned off for the whole process, and
    /// they are watched on a dispatch queue, so no code runs in a signal handler. Call it before ``run()``.
    public func shutdownOnSignals(deadline: Duration = .seconds(10)) {
        let count = Atomic<Int>(0)
        let queue = DispatchQueue(label: "shockwave.signals")
        var sources: [SignalSource] = []
        for signo in [SIGINT, SIGTERM] {
            signal(signo, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signo, queue: queue)
            source.setEventHandler { [weak self] in
                let n = count.add(1, ordering: .relaxed).newValue
                self?.shutdown(deadline: n == 1 ? deadline : .zero)
            }
            source.resume()
            sources.append(SignalSource(source: source))
        }
        retain(sources)
    }
}
