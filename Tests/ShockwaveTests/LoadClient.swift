// Many connections from one thread: non-blocking sockets driven by poll(2), each sending a request, reading its
// response, and repeating. Used for the concurrency and the shutdown-under-load tests.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// A flag one thread sets and others read.
final class SharedFlag: Sendable {
    private let atomic = Atomic<Bool>(false)
    func set() { atomic.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { atomic.load(ordering: .sequentiallyConsistent) }
}

/// A counter one thread writes and others read.
final class SharedCounter: Sendable {
    private let atomic = Atomic<Int>(0)
    func store(_ value: Int) { atomic.store(value, ordering: .relaxed) }
    var value: Int { atomic.load(ordering: .relaxed) }
}

struct LoadResult: Sendable {
    /// Responses received complete with the expected status and body.
    var answered = 0
    /// Requests that were fully sent before `shutdownStarted` was set and got no complete response.
    var lostBeforeShutdown = 0
    /// Requests sent after shutdown began that got no response (allowed during a shutdown).
    var droppedAfterShutdown = 0
    /// Responses that said `Connection: close`.
    var closesAnnounced = 0
    var errors: [String] = []
}

private struct LoadConnection {
    enum Phase { case connecting, writing, reading, done }
    var fd: Int32 = -1
    var phase = Phase.connecting
    var written = 0
    var completed = 0
    var input: [UInt8] = []
    var sentBeforeShutdown = false
}

/// Opens `connections` connections to 127.0.0.1:`port`, and on each sends `request` and reads the response
/// `requestsPerConnection` times (or until the server announces or performs a close). A response must have
/// status 200 and, when given, the body `expectedBody`. Gives up after `timeLimit` seconds, reporting the
/// connections left as errors. `shutdownStarted`, when given, is read after each request is sent, to tell
/// requests sent before a shutdown (which must be answered) from those sent after.
func runLoad(
    port: Int, connections: Int, requestsPerConnection: Int, request: [UInt8], expectedBody: [UInt8]?,
    timeLimit: Int = 60, shutdownStarted: SharedFlag? = nil, onProgress: ((Int) -> Void)? = nil
) -> LoadResult {
    var result = LoadResult()
    var conns = [LoadConnection](repeating: LoadConnection(), count: connections)
    var addr = loopback(port: port)
    for i in conns.indices {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            result.errors.append("socket: \(String(cString: strerror(errno)))")
            conns[i].phase = .done
            continue
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        conns[i].fd = fd
        if rc != 0 && errno != EINPROGRESS {
            result.errors.append("connect: \(String(cString: strerror(errno)))")
            close(fd)
            conns[i].fd = -1
            conns[i].phase = .done
        }
    }
    var clock = timespec()
    clock_gettime(CLOCK_MONOTONIC, &clock)
    let giveUp = clock.tv_sec + timeLimit
    var pollSet = [pollfd](repeating: pollfd(), count: connections)
    var chunk = [UInt8](repeating: 0, count: 65536)

    func finish(_ i: Int) {
        if conns[i].fd >= 0 { close(conns[i].fd) }
        conns[i].fd = -1
        conns[i].phase = .done
    }
    /// The connection ended (EOF, reset, error) with a request possibly in flight.
    func ended(_ i: Int, _ why: String) {
        if conns[i].phase == .reading {
            if shutdownStarted == nil {
                result.errors.append("connection \(i): \(why) while waiting for response \(conns[i].completed + 1)")
            } else if conns[i].sentBeforeShutdown {
                result.lostBeforeShutdown += 1
                result.errors.append("connection \(i): \(why); request sent before the shutdown was not answered")
            } else {
                result.droppedAfterShutdown += 1
            }
        } else if shutdownStarted == nil {
            result.errors.append("connection \(i): \(why) before sending request \(conns[i].completed + 1)")
        }
        finish(i)
    }

    while true {
        var active = 0
        for i in conns.indices where conns[i].phase != .done {
            let events: Int16 = conns[i].phase == .reading ? Int16(POLLIN) : Int16(POLLOUT)
            pollSet[active] = pollfd(fd: conns[i].fd, events: events, revents: 0)
            active += 1
        }
        if active == 0 { break }
        clock_gettime(CLOCK_MONOTONIC, &clock)
        if clock.tv_sec >= giveUp {
            for i in conns.indices where conns[i].phase != .done {
                result.errors.append("connection \(i): no progress within \(timeLimit) s (phase \(conns[i].phase), \(conns[i].completed) done)")
                finish(i)
            }
            break
        }
        let n = poll(&pollSet, nfds_t(active), 1000)
        if n < 0 && errno != EINTR {
            result.errors.append("poll: \(String(cString: strerror(errno)))")
            break
        }
        if n <= 0 { continue }
        // Map the poll slots back to connections in the same order they were filled.
        var slot = 0
        for i in conns.indices where conns[i].phase != .done {
            let revents = pollSet[slot].revents
            slot += 1
            if slot > active { break }
            if revents == 0 { continue }
            switch conns[i].phase {
            case .connecting, .writing:
                if conns[i].phase == .connecting {
                    var err: Int32 = 0
                    var len = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(conns[i].fd, SOL_SOCKET, SO_ERROR, &err, &len)
                    if err != 0 {
                        ended(i, "connect failed: \(String(cString: strerror(err)))")
                        continue
                    }
                    conns[i].phase = .writing
                    conns[i].written = 0
                }
                let w = request.withUnsafeBytes {
                    send(conns[i].fd, $0.baseAddress! + conns[i].written, $0.count - conns[i].written, Int32(MSG_NOSIGNAL))
                }
                if w < 0 {
                    if errno != EAGAIN && errno != EINTR { ended(i, "send: \(String(cString: strerror(errno)))") }
                    continue
                }
                conns[i].written += w
                if conns[i].written == request.count {
                    conns[i].sentBeforeShutdown = !(shutdownStarted?.isSet ?? false)
                    conns[i].phase = .reading
                    conns[i].input.removeAll(keepingCapacity: true)
                }
            case .reading:
                let r = chunk.withUnsafeMutableBytes { recv(conns[i].fd, $0.baseAddress, $0.count, 0) }
                if r == 0 {
                    ended(i, "EOF")
                    continue
                }
                if r < 0 {
                    if errno != EAGAIN && errno != EINTR { ended(i, "recv: \(String(cString: strerror(errno)))") }
                    continue
                }
                conns[i].input += chunk[0..<r]
                guard let parsed = parseResponse(conns[i].input) else { continue }
                if parsed.consumed < 0 {
                    result.errors.append("connection \(i): unreadable response \(String(decoding: conns[i].input.prefix(200), as: UTF8.self).debugDescription)")
                    finish(i)
                    continue
                }
                if parsed.status != 200 || (expectedBody != nil && parsed.body != expectedBody!) {
                    result.errors.append("connection \(i): status \(parsed.status) body \(String(decoding: parsed.body, as: UTF8.self).debugDescription)")
                    finish(i)
                    continue
                }
                result.answered += 1
                conns[i].completed += 1
                onProgress?(result.answered)
                if parsed.closes {
                    result.closesAnnounced += 1
                    finish(i)
                } else if conns[i].completed >= requestsPerConnection {
                    finish(i)
                } else {
                    conns[i].phase = .writing
                    conns[i].written = 0
                }
            case .done:
                break
            }
        }
    }
    return result
}

/// A complete response at the start of `bytes`: (status, body, closes, consumed), nil when incomplete,
/// consumed -1 when malformed. Content-Length framing only (what the load routes send).
private func parseResponse(_ bytes: [UInt8]) -> (status: Int, body: [UInt8], closes: Bool, consumed: Int)? {
    let crlf2: [UInt8] = [13, 10, 13, 10]
    guard bytes.count >= 4 else { return nil }
    var headEnd = -1
    for i in 0...(bytes.count - 4) where bytes[i] == 13 && Array(bytes[i..<(i + 4)]) == crlf2 {
        headEnd = i
        break
    }
    if headEnd < 0 { return nil }
    let head = String(decoding: bytes[0..<headEnd], as: UTF8.self)
    let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
    let statusParts = lines[0].split(separator: " ")
    guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return (0, [], true, -1) }
    var length = 0
    var closes = false
    for line in lines.dropFirst() {
        let lower = line.lowercased()
        if lower.hasPrefix("content-length:") { length = Int(lower.dropFirst(15).trimmingSpaces()) ?? -1 }
        if lower.hasPrefix("connection:") && lower.contains("close") { closes = true }
    }
    if length < 0 { return (0, [], true, -1) }
    let bodyStart = headEnd + 4
    guard bytes.count >= bodyStart + length else { return nil }
    return (status, Array(bytes[bodyStart..<(bodyStart + length)]), closes, bodyStart + length)
}
