// A blocking HTTP/1.1 test client on raw sockets: exact bytes out (pipelining, malformed input, resets) and a
// small response reader in (Content-Length, chunked, until close). Every read has a timeout, so a server that
// stops answering fails the test instead of hanging it.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct ClientError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A parsed response.
struct HTTPResponse: CustomStringConvertible {
    var version: String
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var bodyString: String { String(decoding: body, as: UTF8.self) }

    /// Whether the server said it will close the connection after this response.
    var closes: Bool {
        if let c = header("Connection")?.lowercased() { return c.contains("close") }
        return version == "HTTP/1.0"
    }

    var description: String { "\(version) \(status) \(headers) \(bodyString.prefix(80).debugDescription)" }
}

final class SocketClient {
    private(set) var fd: Int32
    private var buffer: [UInt8] = []
    private var start = 0

    /// Connects to 127.0.0.1:`port`; reads time out after `timeout` seconds.
    init(port: Int, timeout: Int = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ClientError("socket: \(String(cString: strerror(errno)))") }
        let fd = self.fd
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = loopback(port: port)
        var rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 && errno == EINTR {
            // The connect goes on in the background: wait for it and take its outcome.
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            while poll(&pfd, 1, Int32(timeout * 1000)) < 0 && errno == EINTR {}
            var err: Int32 = 0
            var len = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
            errno = pfd.revents == 0 ? ETIMEDOUT : err
            rc = err == 0 && pfd.revents != 0 ? 0 : -1
        }
        guard rc == 0 else {
            let e = errno
            close()
            throw ClientError("connect to port \(port): \(String(cString: strerror(e)))")
        }
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ClientError("send: \(String(cString: strerror(errno)))")
            }
            sent += n
        }
    }

    /// Reads more bytes into the buffer; returns false at EOF. Throws on timeout or reset.
    private func fill() throws -> Bool {
        if start > 0 && start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[0..<n])
                return true
            }
            if n == 0 { return false }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw ClientError("timed out waiting for the server") }
            throw ClientError("recv: \(String(cString: strerror(errno)))")
        }
    }

    private func readLine() throws -> String {
        while true {
            if let i = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = i
                if end > start && buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = String(decoding: buffer[start..<end], as: UTF8.self)
                start = i + 1
                return line
            }
            guard try fill() else { throw ClientError("connection closed before a full line") }
        }
    }

    private func readExactly(_ n: Int) throws -> [UInt8] {
        while buffer.count - start < n {
            guard try fill() else { throw ClientError("connection closed inside a body (\(buffer.count - start) of \(n))") }
        }
        let bytes = Array(buffer[start..<(start + n)])
        start += n
        return bytes
    }

    /// Reads one response. `bodyless`: the reply to HEAD (or a 1xx/204/304), whose framing fields describe a
    /// body that is not sent.
    func readResponse(bodyless: Bool = false) throws -> HTTPResponse {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            throw ClientError("bad status line \(statusLine.debugDescription)")
        }
        var headers: [(name: String, value: String)] = []
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            guard let colon = line.firstIndex(of: ":") else { throw ClientError("bad field line \(line.debugDescription)") }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingSpaces()))
        }
        var response = HTTPResponse(version: String(parts[0]), status: status, headers: headers, body: [])
        if bodyless || status < 200 || status == 204 || status == 304 { return response }
        if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            while true {
                let sizeLine = try readLine()
                guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else {
                    throw ClientError("bad chunk size \(sizeLine.debugDescription)")
                }
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                response.body += try readExactly(size)
                guard try readLine().isEmpty else { throw ClientError("chunk not followed by CRLF") }
            }
        } else if let length = response.header("Content-Length").flatMap({ Int($0) }) {
            response.body = try readExactly(length)
        } else {
            while try fill() {}
            response.body = Array(buffer[start...])
            start = buffer.count
        }
        return response
    }

    /// Sends a request and reads its response.
    func request(_ text: String, bodyless: Bool = false) throws -> HTTPResponse {
        try send(text)
        return try readResponse(bodyless: bodyless)
    }

    /// Whether the server has closed the connection: reads until EOF or reset (discarding bytes), true then;
    /// false when the connection is still open after `timeout` seconds of silence.
    func waitForClose(timeout: Int = 10) -> Bool {
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        start = buffer.count
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { continue }
            if n == 0 { return true }
            if errno == EINTR { continue }
            return errno != EAGAIN && errno != EWOULDBLOCK  // ECONNRESET counts as closed
        }
    }

    /// Reads whatever arrives until the connection closes (or times out), without parsing.
    func readUntilClose() -> [UInt8] {
        var out = Array(buffer[start...])
        start = buffer.count
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                out += chunk[0..<n]
                continue
            }
            if n < 0 && errno == EINTR { continue }
            return out
        }
    }

    /// Reads exactly `n` raw bytes (for tests that stop in the middle of a response).
    func readRaw(_ n: Int) throws -> [UInt8] { try readExactly(n) }

    /// Closes with an RST instead of a FIN (SO_LINGER with a zero timeout), as a crashing client would.
    func reset() {
        var l = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        close()
    }

    /// Half-closes: no more bytes from this side (FIN), reading still works.
    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }
}

func loopback(port: Int) -> sockaddr_in {
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = in_addr_t(UInt32(0x7F00_0001).bigEndian)
    return addr
}

extension Substring {
    func trimmingSpaces() -> String {
        var s = self[...]
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return String(s)
    }
}
