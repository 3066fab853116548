internal import CShockwave

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// How a ``Server`` listens, how many loops it runs, and the limits and timeouts it enforces.
///
/// Every default equals the C core's (`sw_server_config_init`): a value you leave alone behaves exactly as in
/// a C program on the same core. The limits are the server's first line of defence; raise them for the
/// routes that need it rather than for all of them.
///
/// ```swift
/// var configuration = ServerConfiguration(host: "127.0.0.1", port: 8080)
/// configuration.limits.maxBody = 1 << 20
/// configuration.timeouts.idle = .seconds(5)
/// ```
public struct ServerConfiguration: Sendable, Hashable {
    /// Which event-loop backend the server runs on.
    public enum Backend: Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// io_uring when the kernel allows it and the build has it, else epoll. The `SHOCKWAVE_BACKEND`
        /// environment variable (`uring` or `epoll`) overrides this choice.
        case auto
        /// io_uring only: ``Server/start()`` fails with ``ServerError/Kind/backendUnavailable`` where it is
        /// not available.
        case uring
        /// epoll: edge-triggered readiness, available on every Linux kernel.
        case epoll

        public var description: String {
            switch self {
            case .auto: "auto"
            case .uring: "io_uring"
            case .epoll: "epoll"
            }
        }
    }

    /// Bounds on what a client may send. A request over a limit is answered with the status shown and the
    /// connection is closed; the handler never sees it.
    public struct Limits: Sendable, Hashable {
        /// Bytes of request line plus header fields plus the blank line. Over it: 431. Default 16384.
        public var maxHead: Int = Int(SW_DEFAULT_MAX_HEAD)
        /// Bytes of the request target. Over it: 414. Default 8192.
        public var maxTarget: Int = Int(SW_DEFAULT_MAX_TARGET)
        /// Header field lines. Over it: 431. Default 100.
        public var maxHeaders: Int = Int(SW_DEFAULT_MAX_HEADERS)
        /// Bytes of a buffered request body, after de-chunking. Over it: 413 — sent before reading any of the body
        /// when `Content-Length` announces it. A body is buffered whole before the handler runs, so this bounds
        /// the memory a request can take; a handler that needs larger bodies streams them (see
        /// ``RequestBodyMode``), and this limit does not apply to those. 0 accepts no body bytes at all, with
        /// `Content-Length` or chunked alike (an empty body is fine). Default 4 MiB (4194304).
        public var maxBody: Int = 4 << 20
        /// Bytes of a streamed request body (after de-chunking) when the handler's ``RequestBodyMode/streamed``
        /// names no limit of its own, or `nil` for no limit. Over it: 413 — before reading when `Content-Length`
        /// announces it, else when the body passes it (the handler's read throws
        /// ``RequestBodyError/Kind/tooLarge``). A streamed body never takes more memory than the connection's
        /// input buffer (64 KiB), so this bounds time and what the handler does with the bytes, not memory.
        /// Default 1 GiB.
        public var maxStreamedBody: Int? = 1 << 30
        /// The slowest a request body may arrive, in bytes per second, measured over each window of
        /// ``Timeouts/body`` the server spends waiting for it; 0 leaves only the rule of one byte per window.
        /// Default 240 (the rate ASP.NET Core's Kestrel requires).
        public var minBodyRate: Int = 240
        /// The slowest a client may read a response, in bytes per second, measured over each window of
        /// ``Timeouts/write`` while output waits to be sent; 0 leaves only the rule of one byte per window.
        /// A client reading slower is disconnected. Default 240.
        public var minSendRate: Int = 240
        /// Open connections for the whole server, shared evenly among the loops; past it, new connections
        /// wait in the kernel's accept queue. Default 16384.
        public var maxConnections: Int = 16384
        /// Requests served on one connection before it is closed (`Connection: close` on the last response),
        /// or `nil` for no limit. Default `nil`.
        public var maxRequestsPerConnection: Int? = nil

        /// The defaults listed on each property.
        public init() {}
    }

    /// How long the server waits for a client. Durations are rounded to milliseconds and checked on a
    /// 100 ms timer wheel, so a timeout fires up to 100 ms late. `.zero` turns a timeout off.
    public struct Timeouts: Sendable, Hashable {
        /// A request head must arrive whole within this time of its first byte, however it is trickled
        /// (slowloris); then the server answers 408 and closes. Default 10 s.
        public var header: Duration = .milliseconds(10_000)
        /// The window of the body-rate rule (slow POST). While the server waits for a request body — reading a
        /// buffered one, or a streamed one while its handler waits in a read — every window of this length must
        /// bring at least ``Limits/minBodyRate`` × window bytes, and at least one byte; otherwise the server
        /// answers 408 (when no response has started) and closes the connection. Time a streaming handler spends
        /// on a piece does not count. A large body at a good rate may take as long as it needs. Default 10 s
        /// (2400 bytes per window with the default rate).
        public var body: Duration = .milliseconds(10_000)
        /// A keep-alive connection with no request in progress is closed after this time. Default 60 s.
        public var idle: Duration = .milliseconds(60_000)
        /// The window of the send-rate rule (a client that reads too slowly). While output waits to be sent,
        /// every window of this length must send at least ``Limits/minSendRate`` × window bytes, and at least
        /// one byte; otherwise the response is abandoned and the connection closed. A large response to a client
        /// reading at a good rate takes as long as it needs. Default 30 s (7200 bytes per window with the
        /// default rate).
        public var write: Duration = .milliseconds(30_000)

        /// The defaults listed on each property.
        public init() {}
    }

    /// The address to bind: an IPv4 or IPv6 literal such as `"0.0.0.0"`, `"127.0.0.1"` or `"::"`. Host names
    /// are not resolved. Default `"0.0.0.0"` (every IPv4 interface).
    public var host: String = "0.0.0.0"
    /// The TCP port, or 0 for one the kernel picks (read it back from ``Server/port``). Default 0.
    public var port: Int = 0
    /// Event loops, one thread each, each with its own `SO_REUSEPORT` listener, or `nil` for one per online
    /// CPU. Default `nil`.
    public var loops: Int? = nil
    /// The event-loop backend. Default ``Backend/auto``.
    public var backend: Backend = .auto
    /// Limits on request size and connection count.
    public var limits = Limits()
    /// Header, body, idle and write timeouts.
    public var timeouts = Timeouts()
    /// Sets `TCP_NODELAY` on accepted sockets, so responses leave without waiting for Nagle's algorithm.
    /// Default `true`.
    public var tcpNoDelay: Bool = true
    /// Sets `TCP_QUICKACK` on accepted sockets. Default `false`.
    public var tcpQuickAck: Bool = false
    /// The value of the `Server` header on every response (at most 63 bytes, printable ASCII), or `nil` to
    /// send none. Default `nil`.
    public var serverName: String? = nil

    /// A configuration with every default, except the values given.
    public init(host: String = "0.0.0.0", port: Int = 0, loops: Int? = nil, backend: Backend = .auto) {
        self.host = host
        self.port = port
        self.loops = loops
        self.backend = backend
    }
}

extension ServerConfiguration {
    /// Checks every value and returns the C configuration, without `host`, `server_name` and the callback
    /// (the caller sets those for the duration of `sw_server_start`, which copies the strings).
    func cConfiguration() throws(ServerError) -> sw_server_config_t {
        func invalid(_ message: String) -> ServerError {
            ServerError(kind: .invalidConfiguration, code: EINVAL, message: message)
        }
        func check(_ value: Int, _ range: ClosedRange<Int>, _ name: String) throws(ServerError) -> Int {
            guard range.contains(value) else {
                throw invalid("\(name) is \(value); it must be in \(range.lowerBound)...\(range.upperBound)")
            }
            return value
        }
        func milliseconds(_ duration: Duration, _ name: String) throws(ServerError) -> UInt32 {
            let (seconds, attoseconds) = duration.components
            guard seconds >= 0 && attoseconds >= 0 else { throw invalid("timeouts.\(name) is negative") }
            guard seconds < Int64(UInt32.max / 1000) else { throw invalid("timeouts.\(name) is too long") }
            // round up: a timeout of 1 µs is 1 ms, not "off"
            let ms = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
            return UInt32(clamping: ms)
        }
        guard !host.isEmpty, host.utf8.count < 64, host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw invalid("host \"\(host)\" is not an IPv4 or IPv6 address literal")
        }
        if let name = serverName {
            guard name.utf8.count <= 63, name.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else {
                throw invalid("serverName must be at most 63 bytes of printable ASCII")
            }
        }
        var c = sw_server_config_t()
        sw_server_config_init(&c)
        c.port = UInt16(try check(port, 0...65535, "port"))
        if let loops { c.loops = UInt16(try check(loops, 1...1024, "loops")) }
        c.backend =
            switch backend {
            case .auto: UInt8(SW_BACKEND_AUTO.rawValue)
            case .uring: UInt8(SW_BACKEND_URING.rawValue)
            case .epoll: UInt8(SW_BACKEND_EPOLL.rawValue)
            }
        c.tcp_nodelay = tcpNoDelay ? 1 : 0
        c.tcp_quickack = tcpQuickAck ? 1 : 0
        c.limits.max_head = UInt32(try check(limits.maxHead, 64...(1 << 30), "limits.maxHead"))
        c.limits.max_target = UInt32(try check(limits.maxTarget, 1...(1 << 30), "limits.maxTarget"))
        c.limits.max_headers = UInt32(try check(limits.maxHeaders, 1...65535, "limits.maxHeaders"))
        c.max_body = UInt64(try check(limits.maxBody, 0...(1 << 31), "limits.maxBody"))
        c.max_stream_body = UInt64.max
        if let streamed = limits.maxStreamedBody {
            c.max_stream_body = UInt64(try check(streamed, 0...Int.max, "limits.maxStreamedBody"))
        }
        c.min_body_rate = UInt32(try check(limits.minBodyRate, 0...Int(UInt32.max), "limits.minBodyRate"))
        c.min_send_rate = UInt32(try check(limits.minSendRate, 0...Int(UInt32.max), "limits.minSendRate"))
        c.max_conns = UInt32(try check(limits.maxConnections, 1...(1 << 24), "limits.maxConnections"))
        if let perConnection = limits.maxRequestsPerConnection {
            c.max_requests_per_conn = UInt32(
                try check(perConnection, 1...Int(UInt32.max), "limits.maxRequestsPerConnection"))
        }
        c.header_timeout_ms = try milliseconds(timeouts.header, "header")
        c.body_timeout_ms = try milliseconds(timeouts.body, "body")
        c.idle_timeout_ms = try milliseconds(timeouts.idle, "idle")
        c.write_timeout_ms = try milliseconds(timeouts.write, "write")
        return c
    }

    /// The C core's defaults, as this type would express them; tests compare them with ``init(host:port:loops:backend:)``.
    static func coreDefaults() -> ServerConfiguration {
        var c = sw_server_config_t()
        sw_server_config_init(&c)
        var d = ServerConfiguration()
        d.host = "0.0.0.0"  // NULL in C means 0.0.0.0
        d.port = Int(c.port)
        d.loops = c.loops == 0 ? nil : Int(c.loops)
        d.backend = c.backend == UInt8(SW_BACKEND_URING.rawValue) ? .uring : c.backend == UInt8(SW_BACKEND_EPOLL.rawValue) ? .epoll : .auto
        d.tcpNoDelay = c.tcp_nodelay != 0
        d.tcpQuickAck = c.tcp_quickack != 0
        d.limits.maxHead = Int(c.limits.max_head)
        d.limits.maxTarget = Int(c.limits.max_target)
        d.limits.maxHeaders = Int(c.limits.max_headers)
        d.limits.maxBody = Int(c.max_body)
        d.limits.maxStreamedBody = c.max_stream_body == .max ? nil : Int(c.max_stream_body)
        d.limits.minBodyRate = Int(c.min_body_rate)
        d.limits.minSendRate = Int(c.min_send_rate)
        d.limits.maxConnections = Int(c.max_conns)
        d.limits.maxRequestsPerConnection = c.max_requests_per_conn == 0 ? nil : Int(c.max_requests_per_conn)
        d.timeouts.header = .milliseconds(Int(c.header_timeout_ms))
        d.timeouts.body = .milliseconds(Int(c.body_timeout_ms))
        d.timeouts.idle = .milliseconds(Int(c.idle_timeout_ms))
        d.timeouts.write = .milliseconds(Int(c.write_timeout_ms))
        d.serverName = c.server_name == nil ? nil : String(cString: c.server_name)
        return d
    }
}
