// bolt-hello: the benchmark routes on Bolt.
//
//   swift run -c release bolt-hello [--port 8080] [--loops N] [--host 0.0.0.0] [--backend auto|uring|epoll]
//
//   GET /plaintext  -> 200 Hello, World!                 text/plain
//   GET /json       -> 200 {"message":"Hello, World!"}   c.json of a Codable struct, encoded per request
//   GET /user/:id   -> 200 user <id>                     the router's path parameter
//
// SIGINT or SIGTERM shuts down gracefully.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Bolt

struct Message: Encodable {
    let message: String
}

func say(_ line: String, to fd: Int32 = 1) {
    var text = line + "\n"
    text.withUTF8 { _ = write(fd, $0.baseAddress, $0.count) }
}

func usage() -> Never {
    say("usage: bolt-hello [--port P] [--loops N] [--host ADDR] [--backend auto|uring|epoll]", to: 2)
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
    default:
        usage()
    }
}

let app = App(configuration: .init(server: configuration))
app.get("/plaintext") { c in c.text("Hello, World!") }
app.get("/json") { c in try c.json(Message(message: "Hello, World!")) }
app.get("/user/:id") { c in c.text("user " + (c.param("id") ?? "")) }

do {
    let server = try app.makeServer()
    server.shutdownOnSignals(deadline: .seconds(5))
    try server.start()
    say("bolt-hello listening on http://\(configuration.host):\(server.port) (backend \(server.backend), \(server.loopCount) loops)")
    server.wait()
    say("bolt-hello: stopped")
} catch {
    say("bolt-hello: \(error)", to: 2)
    exit(1)
}
