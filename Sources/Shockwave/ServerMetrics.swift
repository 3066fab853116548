internal import CShockwave

/// Counters of one event loop, since the server started. Each counter is exact; a set read while the loop
/// runs is not a snapshot of one instant.
public struct LoopMetrics: Sendable, Hashable {
    /// Connections accepted.
    public var connectionsAccepted: Int
    /// Connections open now.
    public var connectionsOpen: Int
    /// Requests answered (by the handler or with an error status).
    public var requests: Int
    /// Bytes received.
    public var bytesIn: Int
    /// Bytes sent.
    public var bytesOut: Int
    /// Buffers and connection structs taken from the loop's pools.
    public var poolHits: Int
    /// Buffers and connection structs the pools did not have, allocated instead (warm-up, bursts).
    public var poolMisses: Int
    /// Requests refused by the parser or the limits (400, 413, 414, 431, 501, 505...).
    public var rejectedRequests: Int
    /// Connections cut by a header, body, idle or write timeout (a body too slow for ``ServerConfiguration/Limits/minBodyRate`` included).
    public var timeouts: Int
    /// The largest input buffer a connection of this loop has held, in bytes: what its largest buffered request
    /// (head and body) needed, or a streamed body's window. A high-water mark for memory sizing.
    public var largestInputBuffer: Int
    /// The largest write buffer a connection of this loop has held, in bytes: its largest response, or what a
    /// client that pipelines requests without reading the answers made it queue before reading stopped (64 KiB
    /// plus one response at most). A high-water mark for memory sizing.
    public var largestOutputBuffer: Int
}

extension Server {
    /// Each loop's counters (empty before ``start()`` and after the server stopped). Safe from any thread.
    public var loopMetrics: [LoopMetrics] {
        withRunningServer { server, loops in
            (0..<loops).map { i in
                var m = sw_loop_metrics_t()
                sw_server_loop_metrics(server, UInt32(i), &m)
                let rejected = withUnsafeBytes(of: m.parse_errors) { raw in
                    raw.bindMemory(to: UInt64.self).reduce(0, &+)
                }
                return LoopMetrics(
                    connectionsAccepted: Int(m.connections_accepted), connectionsOpen: Int(m.connections_open),
                    requests: Int(m.requests), bytesIn: Int(m.bytes_in), bytesOut: Int(m.bytes_out),
                    poolHits: Int(m.pool_hits), poolMisses: Int(m.pool_misses), rejectedRequests: Int(rejected),
                    timeouts: Int(m.timeouts), largestInputBuffer: Int(m.in_buf_peak),
                    largestOutputBuffer: Int(m.out_buf_peak))
            }
        } ?? []
    }
}
