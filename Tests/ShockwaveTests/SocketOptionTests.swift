// The options Shockwave sets on an accepted socket, read back with sw_socket_options from the server's own
// descriptor (the server runs in this process): TCP_NODELAY on by default and off when asked, on both backends.
// TCP_QUICKACK cannot be proved this way: reading it reports the socket's current ack mode, which is "quick" on
// a fresh socket whether or not the option was set, and changes as data flows; the call is only checked to work.

import CShockwave
import Shockwave
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The port of a socket address (IPv4 or IPv6), or nil.
private func port(_ fd: Int32, peer: Bool) -> Int? {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let rc = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length)
        }
    }
    guard rc == 0 else { return nil }
    return withUnsafePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
    }
}

/// The server's end of the connection `client` opened to `serverPort`: the descriptor in this process whose local
/// port is the server's and whose peer port is the client's local port.
private func acceptedDescriptor(serverPort: Int, client: SocketClient) -> Int32? {
    guard let clientPort = port(client.fd, peer: false) else { return nil }
    for fd in Int32(3)..<Int32(4096) where fd != client.fd {
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK else { continue }
        if port(fd, peer: false) == serverPort && port(fd, peer: true) == clientPort { return fd }
    }
    return nil
}

@Suite struct SocketOptionTests {
    static let cases: [(TestBackend, noDelay: Bool, quickAck: Bool)] = [
        (.uring, true, false), (.uring, false, true), (.epoll, true, false), (.epoll, false, true),
    ]

    @Test(arguments: cases) func appliesTheConfiguredOptionsToAcceptedSockets(
        _ c: (TestBackend, noDelay: Bool, quickAck: Bool)
    ) throws {
        try withServer(c.0, configure: {
            $0.tcpNoDelay = c.noDelay
            $0.tcpQuickAck = c.quickAck
        }) { server in
            let client = try SocketClient(port: server.port)
            // Once the server has answered on the connection, it was accepted and tuned.
            #expect(try client.request("GET /hello HTTP/1.1\r\nHost: test\r\n\r\n").status == 200)
            var fd: Int32? = nil
            for _ in 0..<200 where fd == nil {
                fd = acceptedDescriptor(serverPort: server.port, client: client)
                if fd == nil { usleep(5_000) }
            }
            let accepted = try #require(fd, "no accepted socket found for the client's connection")
            var noDelay: Int32 = -1
            var quickAck: Int32 = -1
            #expect(sw_socket_options(accepted, &noDelay, &quickAck) == 0)
            #expect((noDelay != 0) == c.noDelay, "TCP_NODELAY \(noDelay), configured \(c.noDelay)")
            #expect(quickAck == 0 || quickAck == 1)
        }
    }
}
