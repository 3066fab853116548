// The raw SwiftNIO peer for the live-server benchmarks (bench/run-peers.sh): the same three routes as
// bench/server/fasthttp, with ServerBootstrap + NIO's HTTP/1 server pipeline and one small handler that matches
// paths by hand, on ONE event-loop thread so the harness can pin it:
//
//   swift build --package-path bench/swift -c release --product nio-hello
//   taskset -c 1 bench/swift/.build/release/nio-hello --port 8080 --host 127.0.0.1
//
//   GET /plaintext  -> 200 "Hello, World!"               text/plain
//   GET /json       -> 200 {"message":"Hello, World!"}   application/json, Foundation JSONEncoder per request
//   GET /user/<id>  -> 200 "user <id>"                   text/plain, taken by hand from the URI
//   anything else   -> 404 "not found"
//
// Every response has Content-Length, Server and a Date header cached per second on the loop (as fasthttp does).
// Keep-alive and pipelining are NIO's (HTTPServerPipelineHandler); SIGINT/SIGTERM close the listener and shut the
// group down.
import Dispatch
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

NIOSingletons.groupLoopCountSuggestion = 1
NIOSingletons.blockingPoolThreadCountSuggestion = 1

var port = 8080
var host = "127.0.0.1"
var arguments = CommandLine.arguments.dropFirst()[...]
while let flag = arguments.popFirst() {
    switch (flag, arguments.popFirst()) {
    case ("--port", let value?) where Int(value) != nil: port = Int(value)!
    case ("--host", let value?): host = value
    default:
        FileHandle.standardError.write(Data("usage: nio-hello [--port P] [--host H]\n".utf8))
        exit(2)
    }
}

struct Message: Encodable {
    let message: String
}

/// The Date header's value, rebuilt once a second by a task on the loop; read and written only on that loop (the
/// group's one thread), hence unchecked.
final class DateCache: @unchecked Sendable {
    private(set) var value = DateCache.now()

    static func now() -> String {
        var t = time(nil)
        var tm = tm()
        gmtime_r(&t, &tm)
        var buf = [Int8](repeating: 0, count: 64)
        let n = strftime(&buf, buf.count, "%a, %d %b %Y %H:%M:%S GMT", &tm)
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    func refresh() { value = DateCache.now() }
}

final class HelloHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private static let plaintext = ByteBuffer(string: "Hello, World!")
    private let dates: DateCache
    private var keepAlive = true
    private var uri = ""

    init(dates: DateCache) { self.dates = dates }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            uri = head.method == .GET ? head.uri : ""
        case .body:
            break
        case .end:
            respond(context: context)
        }
    }

    private func respond(context: ChannelHandlerContext) {
        var status = HTTPResponseStatus.ok
        var contentType = "text/plain"
        var body: ByteBuffer
        let path = uri.utf8.firstIndex(of: UInt8(ascii: "?")).map { String(uri[..<$0]) } ?? uri
        switch path {
        case "/plaintext":
            body = Self.plaintext
        case "/json":
            contentType = "application/json"
            do {
                body = ByteBuffer(bytes: try JSONEncoder().encode(Message(message: "Hello, World!")))
            } catch {
                status = .internalServerError
                body = ByteBuffer(string: "\(error)")
            }
        default:
            let id = path.hasPrefix("/user/") ? path.dropFirst(6) : ""
            if !id.isEmpty && !id.contains("/") {
                body = context.channel.allocator.buffer(capacity: 5 + id.utf8.count)
                body.writeString("user ")
                body.writeSubstring(id)
            } else {
                status = .notFound
                body = ByteBuffer(string: "not found")
            }
        }
        var headers = HTTPHeaders()
        headers.reserveCapacity(5)
        headers.add(name: "Server", value: "nio")
        headers.add(name: "Date", value: dates.value)
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}

/// Serves until SIGINT or SIGTERM. A plain function, not top-level code: closures written at the top level of main.swift
/// are main-actor isolated, and the signal handler runs on a Dispatch queue.
func serve(host: String, port: Int) throws {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let loop = group.next()
    let dates = try loop.submit { () -> DateCache in
        let cache = DateCache()
        loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in cache.refresh() }
        return cache
    }.wait()

    let bootstrap = ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 1024)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .childChannelOption(.maxMessagesPerRead, value: 16)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                try channel.pipeline.syncOperations.addHandler(HelloHandler(dates: dates))
            }
        }

    let channel = try bootstrap.bind(host: host, port: port).wait()
    print("nio-hello listening on \(channel.localAddress?.description ?? "\(host):\(port)") (SwiftNIO 2.101.2, 1 event loop)")
    fflush(nil)  // all streams: the harness reads this line through a pipe

    let signalQueue = DispatchQueue(label: "nio-hello.signals")
    var signalSources: [DispatchSourceSignal] = []
    for code in [SIGINT, SIGTERM] {
        signal(code, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: code, queue: signalQueue)
        source.setEventHandler { channel.close(promise: nil) }
        source.resume()
        signalSources.append(source)
    }

    try withExtendedLifetime(signalSources) { try channel.closeFuture.wait() }
    try group.syncShutdownGracefully()
}

try serve(host: host, port: port)
