// shockwave-hello: the benchmark routes on Shockwave's synchronous handler path.
//
//   swift run -c release shockwave-hello [--port 8080] [--loops N] [--host 0.0.0.0] [--backend auto|uring|epoll]
//                                        [--no-tune]
//
//   GET /plaintext  -> 200 Hello, World!                 text/plain
//   GET /json       -> 200 {"message":"Hello, World!"}   application/json, serialized per request
//   GET /user/:id   -> 200 user <id>                     text/plain, matched by hand on the path bytes
//   POST /echo      -> 200 the request body
//   anything else   -> 404 (405 for a known path with another method)
//
// SIGINT or SIGTERM shuts down gracefully (a second one at once). Nothing here allocates per request.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Shockwave

struct Hello: HTTPHandler {
    func handle(_ request: borrowing Request, _ response: inout ResponseWriter) throws {
        let path = request.path
        let isGet = request.method == .get || request.method == .head
        if path == "/plaintext" {
            guard isGet else { return try methodNotAllowed(&response, allow: "GET, HEAD") }
            response.contentType = .plainText
            response.body("Hello, World!" as StaticString)  // static bytes: sent from where they are
        } else if path == "/json" {
            guard isGet else { return try methodNotAllowed(&response, allow: "GET, HEAD") }
            response.contentType = .json
            // Serialized on every request, as the peers in the benchmark do, into a stack buffer.
            withUnsafeTemporaryAllocation(byteCount: 64, alignment: 1) { buffer in
                var json = JSONWriter(buffer)
                json.beginObject()
                json.key("message")
                json.string("Hello, World!")
                json.endObject()
                response.body(json.bytes)
            }
        } else if path.hasPrefix("/user/") {
            let id = path.dropFirst(6)
            guard !id.isEmpty, !id.contains(UInt8(ascii: "/")) else { return notFound(&response) }
            guard isGet else { return try methodNotAllowed(&response, allow: "GET, HEAD") }
            response.contentType = .plainText
            withUnsafeTemporaryAllocation(byteCount: 5 + id.count, alignment: 1) { buffer in
                let prefix: StaticString = "user "
                prefix.withUTF8Buffer { buffer.copyMemory(from: UnsafeRawBufferPointer($0)) }
                id.withUnsafeBytes { (buffer.baseAddress! + 5).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                response.body(UnsafeRawBufferPointer(buffer))
            }
        } else if path == "/echo" {
            guard request.method == .post else { return try methodNotAllowed(&response, allow: "POST") }
            response.contentType = .octetStream
            response.body(request.body)
        } else {
            notFound(&response)
        }
    }

    func notFound(_ response: inout ResponseWriter) {
        response.status = .notFound
        response.contentType = .plainText
        response.body("not found" as StaticString)
    }

    func methodNotAllowed(_ response: inout ResponseWriter, allow: String) throws {
        response.status = .methodNotAllowed
        try response.header(name: "Allow", value: allow)
        response.body("method not allowed" as StaticString)
    }
}

/// A minimal JSON serializer writing into a caller's buffer: objects, keys and escaped strings.
struct JSONWriter {
    let buffer: UnsafeMutableRawBufferPointer
    var count = 0
    var needsComma = false

    init(_ buffer: UnsafeMutableRawBufferPointer) {
        self.buffer = buffer
    }

    /// The bytes written so far.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: buffer[0..<count]) }

    mutating func byte(_ b: UInt8) {
        precondition(count < buffer.count, "JSONWriter buffer is full")
        buffer[count] = b
        count += 1
    }

    mutating func beginObject() {
        byte(UInt8(ascii: "{"))
        needsComma = false
    }

    mutating func endObject() {
        byte(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func key(_ name: StaticString) {
        if needsComma { byte(UInt8(ascii: ",")) }
        string(name)
        byte(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func string(_ value: StaticString) {
        value.withUTF8Buffer { utf8 in
            byte(UInt8(ascii: "\""))
            for b in utf8 {
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                    byte(UInt8(ascii: "\\"))
                    byte(b)
                case 0..<0x20:
                    let hex: StaticString = "0123456789abcdef"
                    for c in "\\u00".utf8 { byte(c) }
                    hex.withUTF8Buffer { h in
                        byte(h[Int(b >> 4)])
                        byte(h[Int(b & 15)])
                    }
                default:
                    byte(b)
                }
            }
            byte(UInt8(ascii: "\""))
        }
        needsComma = true
    }
}

/// Writes a line to a file descriptor at once (stdout is block-buffered under a benchmark script).
func say(_ line: String, to fd: Int32 = 1) {
    var text = line + "\n"
    text.withUTF8 { _ = write(fd, $0.baseAddress, $0.count) }
}

func usage() -> Never {
    say("usage: shockwave-hello [--port P] [--loops N] [--host ADDR] [--backend auto|uring|epoll] [--no-tune]", to: 2)
    exit(2)
}

var configuration = ServerConfiguration(host: "0.0.0.0", port: 8080)
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--port":
        guard let value = arguments.popFirst().flatMap({ Int($0) }) else { usage() }
        configuration.port = value
    case "--loops":
        guard let value = arguments.popFirst().flatMap({ Int($0) }) else { usage() }
        configuration.loops = value
    case "--host":
        guard let value = arguments.popFirst() else { usage() }
        configuration.host = value
    case "--backend":
        switch arguments.popFirst() {
        case "auto": configuration.backend = .auto
        case "uring", "io_uring": configuration.backend = .uring
        case "epoll": configuration.backend = .epoll
        default: usage()
        }
    case "--no-tune":
        configuration.tcpNoDelay = false
    default:
        usage()
    }
}

let server = Server(configuration: configuration, handler: Hello())
server.shutdownOnSignals(deadline: .seconds(5))
do {
    try server.start()
} catch {
    say("shockwave-hello: \(error)", to: 2)
    exit(1)
}
say("shockwave-hello listening on http://\(configuration.host):\(server.port) (backend \(server.backend), \(server.loopCount) loops)")
server.wait()
say("shockwave-hello: stopped")
