// Streamed responses to a client that does not read: the output a connection holds stays bounded (1 MiB queued,
// SW_STREAM_OUT_MAX). An async handler's streamChunk waits for room and the whole body arrives once the client
// reads; a synchronous writeChunk, which cannot wait, aborts the response (the connection closes, no last chunk)
// instead of growing the buffer. Before the bound, the write buffer grew with whatever the handler wrote.

import Shockwave
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

private let chunkSize = 64 << 10
private let asyncChunks = 256  // 16 MiB
private let syncChunks = 1024  // 64 MiB, more than any socket buffer takes

/// How the sync handler's writes went: chunks taken, then whether a write was refused.
private let syncResult = Mutex<(taken: Int, refused: Bool)>((0, false))
/// Whether the async handler's stream was cut (a write found the connection gone).
private let asyncCut = Mutex<Bool>(false)

private struct Streams: MixedHTTPHandler {
    func handle(_ request: borrowing Request, _ response: inout ResponseWriter) throws -> HandlerDisposition {
        guard request.path == "/sync" else { return .suspend(tag: 0) }
        let chunk = [UInt8](repeating: UInt8(ascii: "s"), count: chunkSize)
        var taken = 0
        var refused = false
        for _ in 0..<syncChunks {
            response.writeChunk(chunk)
            if response.isAborted { refused = true; break }
            taken += 1
        }
        syncResult.withLock { $0 = (taken, refused) }
        response.finishChunks()  // does nothing after the abort
        return .done
    }

    func handleAsync(_ request: borrowing Request, _ response: inout ResponseWriter, tag: Int) async throws {
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 1)
        defer { chunk.deallocate() }
        chunk.initializeMemory(as: UInt8.self, repeating: UInt8(ascii: "a"))
        for _ in 0..<asyncChunks {
            guard await response.streamChunk(UnsafeRawBufferPointer(chunk)) else {
                asyncCut.withLock { $0 = true }
                return
            }
        }
        response.finishChunks()
    }
}

/// Serialized: the handler reports through globals.
@Suite(.serialized) struct StreamBackPressureTests {
    /// Queued output plus one chunk, rounded up to the buffer's power of two.
    static let bound = 2 << 20

    @Test(arguments: TestBackend.allCases)
    func anAsyncStreamToAClientThatDoesNotReadWaitsWithBoundedOutput(_ backend: TestBackend) throws {
        try withServer(backend, configure: { $0.loops = 1 }, make: { Server(configuration: $0, handler: Streams()) }) {
            server in
            let client = try SocketClient(port: server.port, timeout: 30)
            try client.send("GET /async HTTP/1.1\r\nHost: test\r\n\r\n")
            usleep(1_000_000)  // the client reads nothing: the socket buffers fill, then the handler waits
            let held = server.loopMetrics.map(\.largestOutputBuffer).max() ?? 0
            #expect(held <= Self.bound, "the connection held a \(held)-byte write buffer")
            let response = try client.readResponse()
            #expect(response.status == 200)
            let count = response.body.count
            let foreign = response.body.withUnsafeBufferPointer { $0.firstIndex { $0 != UInt8(ascii: "a") } }
            #expect(count == asyncChunks * chunkSize)
            #expect(foreign == nil)
        }
    }

    @Test(arguments: TestBackend.allCases)
    func aSyncStreamPastTheBoundIsAbortedNotGrown(_ backend: TestBackend) throws {
        try withServer(backend, configure: { $0.loops = 1 }, make: { Server(configuration: $0, handler: Streams()) }) {
            server in
            syncResult.withLock { $0 = (0, false) }
            let client = try SocketClient(port: server.port, timeout: 30)
            try client.send("GET /sync HTTP/1.1\r\nHost: test\r\n\r\n")
            usleep(500_000)
            let result = syncResult.withLock { $0 }
            #expect(result.refused, "all \(result.taken) chunks were taken")
            #expect(result.taken < syncChunks)
            let held = server.loopMetrics.map(\.largestOutputBuffer).max() ?? 0
            #expect(held <= Self.bound, "the connection held a \(held)-byte write buffer")
            // The client sees the stream cut short: no last chunk, the connection closes.
            #expect(throws: (any Error).self) { _ = try client.readResponse() }
        }
    }

    @Test(arguments: TestBackend.allCases)
    func aClientReadingSlowerThanTheMinimumSendRateIsCut(_ backend: TestBackend) throws {
        try withServer(backend, configure: {
            $0.loops = 1
            $0.timeouts.write = .milliseconds(300)
            $0.limits.minSendRate = 1_000_000  // 300 KB per 300 ms window
        }, make: { Server(configuration: $0, handler: Streams()) }) { server in
            asyncCut.withLock { $0 = false }
            let client = try SocketClient(port: server.port, timeout: 30)
            try client.send("GET /async HTTP/1.1\r\nHost: test\r\n\r\n")
            // The client keeps reading, but slowly (4 KiB every 20 ms, about 200 KB/s): every window makes some
            // progress, which the old rule (a write timeout reset by any progress) let go on for ever.
            var cut = false
            var buffer = [UInt8](repeating: 0, count: 4096)
            for _ in 0..<150 where !cut {  // up to 3 s
                _ = buffer.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, 4096, Int32(MSG_DONTWAIT)) }
                usleep(20_000)
                cut = asyncCut.withLock { $0 }
            }
            #expect(cut, "the handler's stream was not cut")
            #expect(server.loopMetrics.map(\.timeouts).reduce(0, +) >= 1)
        }
    }
}
