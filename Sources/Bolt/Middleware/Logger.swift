internal import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where access-log lines go: written by the logger's own thread, never by a request.
public protocol LogSink: Sendable {
    /// Writes complete lines (each ends with a newline).
    func write(_ lines: String)
}

/// Lines to standard output.
public struct StandardOutputSink: LogSink {
    public init() {}
    public func write(_ lines: String) {
        var lines = lines
        lines.withUTF8 { writeAll(1, $0) }
    }
}

/// Lines to standard error.
public struct StandardErrorSink: LogSink {
    public init() {}
    public func write(_ lines: String) {
        var lines = lines
        lines.withUTF8 { writeAll(2, $0) }
    }
}

/// Lines nowhere (benchmarks; the records are still taken and formatted).
public struct DiscardingSink: LogSink {
    public init() {}
    public func write(_ lines: String) {}
}

private func writeAll(_ fd: Int32, _ bytes: UnsafeBufferPointer<UInt8>) {
    var at = 0
    while at < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + at, bytes.count - at)
        if n <= 0 {
            if n < 0 && errno == EINTR { continue }
            return
        }
        at += n
    }
}

/// An access log that costs a request no formatting: the request's facts (time, method, path, status, duration,
/// request ID) are copied as a small binary record into its loop's buffer, and a background thread formats the
/// records into lines and hands them to the sink every `flushInterval`.
///
/// Lines follow swift-log's `StreamLogHandler` layout, so tools that read swift-log output read these:
///
/// ```
/// 2026-11-30T07:40:12Z info bolt.access : duration_us=42 method=GET path=/users/42 request_id=9f3a… status=200 [Bolt] request
/// ```
///
/// Paths longer than 200 bytes are cut (and marked `…`). If the writer falls behind by more than
/// `maxBufferedBytes` per loop, further records are dropped and counted (``droppedRecords``), never blocking a
/// request.
public struct Logger: Middleware, AsyncMiddleware {
    let pipeline: LogPipeline

    /// A logger writing to `sink` (default: standard output).
    public init(
        sink: any LogSink = StandardOutputSink(), label: String = "bolt.access", flushInterval: Duration = .milliseconds(100),
        maxBufferedBytes: Int = 4 << 20
    ) {
        pipeline = LogPipeline(sink: sink, label: label, interval: flushInterval, maxBytes: maxBufferedBytes)
    }

    /// Records dropped because the writer fell behind.
    public var droppedRecords: Int { pipeline.dropped.load(ordering: .relaxed) }

    /// Formats and writes everything recorded so far, now (at shutdown, or in tests).
    public func flush() { pipeline.flush() }

    public func handle(_ c: Context, next: Next) throws {
        let start = monotonicNanos()
        do {
            try next()
        } catch {
            pipeline.record(c, since: start, error: error)  // the app answers it after the chain unwinds
            throw error
        }
        pipeline.record(c, since: start, error: nil)
    }

    public func handle(_ c: Context, next: AsyncNext) async throws {
        let start = monotonicNanos()
        do {
            try await next()
        } catch {
            pipeline.record(c, since: start, error: error)
            throw error
        }
        pipeline.record(c, since: start, error: nil)
    }
}

/// The buffers and the writer thread behind a ``Logger``.
final class LogPipeline: @unchecked Sendable {
    /// One record's fixed part; the path and the request ID follow it.
    struct Header {
        var wallSeconds: Int64
        var durationMicros: UInt32
        var status: UInt16
        var method: UInt8
        var pathLength: UInt8
        var cut: UInt8
        var idLength: UInt8
    }

    static let maxPath = 200
    static let shards = 16

    let sink: any LogSink
    let label: String
    let interval: Duration
    let maxBytes: Int
    let dropped = Atomic<Int>(0)
    /// Records by loop (loop index modulo `shards`): each lock is taken by its loop only, except when the
    /// writer swaps the buffer out (once per interval).
    private let buffers: [Shard]

    final class Shard: Sendable {
        let records: Locked<[UInt8]>
        init() {
            var b = [UInt8]()
            b.reserveCapacity(64 << 10)
            records = Locked(b)
        }
    }
    private let writerStarted = Atomic<Bool>(false)
    private let flushLock = Locked(())

    init(sink: any LogSink, label: String, interval: Duration, maxBytes: Int) {
        self.sink = sink
        self.label = label
        self.interval = interval
        self.maxBytes = maxBytes
        buffers = (0..<Self.shards).map { _ in Shard() }
        Self.all.withLock { all in
            all.removeAll { $0.pipeline == nil }
            all.append(WeakPipeline(pipeline: self))
        }
    }

    struct WeakPipeline {
        weak var pipeline: LogPipeline?
    }

    /// Every live pipeline, so a stopping app can write out what its loggers still hold.
    static let all = Locked<[WeakPipeline]>([])

    /// Flushes every live logger (``App/run()`` calls it once the server has stopped).
    static func flushAll() {
        let pipelines = all.withLock { $0.compactMap(\.pipeline) }
        for pipeline in pipelines { pipeline.flush() }
    }

    /// Records a finished request; `error`, when it ended with one, gives the status the app will answer with.
    func record(_ c: Context, since start: UInt64, error: (any Error)?) {
        if !writerStarted.load(ordering: .relaxed) { startWriter() }
        let micros = (monotonicNanos() &- start) / 1000
        var now = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &now)
        let path = c.path
        let pathLength = min(path.count, Self.maxPath)
        var header = Header(
            wallSeconds: Int64(now.tv_sec), durationMicros: UInt32(clamping: micros), status: UInt16(clamping: status(c, error)),
            method: c.method.rawValue, pathLength: UInt8(pathLength), cut: path.count > Self.maxPath ? 1 : 0, idLength: 0)
        c.withRequestIDIfAny { id in
            header.idLength = UInt8(id.count)
            buffers[c.loopIndex % Self.shards].records.withLock { buffer in
                guard buffer.count < maxBytes else {
                    dropped.add(1, ordering: .relaxed)
                    return
                }
                withUnsafeBytes(of: &header) { buffer.append(contentsOf: $0) }
                path.withUnsafeBytes { buffer.append(contentsOf: $0.prefix(pathLength)) }
                id.withUnsafeBytes { buffer.append(contentsOf: $0) }
            }
        }
    }

    private func status(_ c: Context, _ error: (any Error)?) -> Int {
        guard let error, !c.isResponseStarted else { return c.status.code }
        return (error as? HTTPError)?.status.code ?? 500
    }

    private func startWriter() {
        guard writerStarted.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        Task.detached { [weak self] in
            while let interval = self?.interval {
                try? await Task.sleep(for: interval)
                guard let self else { return }
                self.flush()
            }
        }
    }

    /// Takes every loop's records and writes them as lines.
    func flush() {
        flushLock.withLock { _ in
            var text = ""
            for shard in buffers {
                var taken = [UInt8]()
                taken.reserveCapacity(64 << 10)
                shard.records.withLock { swap(&$0, &taken) }
                if !taken.isEmpty { format(taken, into: &text) }
            }
            if !text.isEmpty { sink.write(text) }
        }
    }

    private func format(_ records: [UInt8], into text: inout String) {
        records.withUnsafeBytes { raw in
            var at = 0
            let size = MemoryLayout<Header>.size
            while at + size <= raw.count {
                let header = raw.loadUnaligned(fromByteOffset: at, as: Header.self)
                at += size
                let path = String(decoding: raw[at..<(at + Int(header.pathLength))], as: UTF8.self)
                at += Int(header.pathLength)
                let id = String(decoding: raw[at..<(at + Int(header.idLength))], as: UTF8.self)
                at += Int(header.idLength)
                let method = HTTPMethod(rawValue: header.method)?.description ?? "OTHER"
                text += "\(iso8601(header.wallSeconds)) info \(label) : duration_us=\(header.durationMicros) method=\(method)"
                text += " path=\(path)\(header.cut != 0 ? "…" : "")"
                if !id.isEmpty { text += " request_id=\(id)" }
                text += " status=\(header.status) [Bolt] request\n"
            }
        }
    }

    private func iso8601(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}

/// CLOCK_MONOTONIC in nanoseconds (vDSO: no system call, no Duration arithmetic).
@inline(__always) func monotonicNanos() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

extension Context {
    /// Calls `body` with the request ID's bytes (empty without ``RequestID``).
    func withRequestIDIfAny(_ body: (ByteView) -> Void) {
        withRequestID(body)
    }
}
