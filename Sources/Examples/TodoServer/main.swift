// todo-api: the todo REST API example served on a port.
//
//   swift run -c release todo-api [--port 8080] [--loops N]
//
//   curl -s localhost:8080/todos -d '{"title":"write docs"}' -H 'Content-Type: application/json'
//   curl -s localhost:8080/todos

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Bolt
import TodoAPI

/// Writes a line at once (stdout is block-buffered into a pipe or file; the access log writes unbuffered).
func say(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(1, $0.baseAddress, $0.count) }
}

var server = ServerConfiguration(host: "0.0.0.0", port: 8080)
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--port": server.port = arguments.popFirst().flatMap { Int($0) } ?? server.port
    case "--loops": server.loops = arguments.popFirst().flatMap { Int($0) }
    default:
        say("usage: todo-api [--port P] [--loops N]")
        exit(2)
    }
}

let app = makeTodoApp(configuration: .init(server: server))
say("todo-api listening on http://0.0.0.0:\(server.port)")
do {
    try app.run()
} catch {
    say("todo-api: \(error)")
    exit(1)
}
