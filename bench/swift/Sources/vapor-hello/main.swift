// The Vapor 4 peer for the live-server benchmarks (bench/run-peers.sh): the same three routes as
// bench/server/fasthttp, through Vapor's Application and router, on ONE thread so the harness can pin it:
//
//   swift build --package-path bench/swift -c release --product vapor-hello
//   taskset -c 1 bench/swift/.build/release/vapor-hello --port 8080 --host 127.0.0.1
//
//   GET /plaintext  -> 200 "Hello, World!"               text/plain; charset=utf-8
//   GET /json       -> 200 {"message":"Hello, World!"}   application/json; charset=utf-8, a Content value encoded per
//                                                        request by Vapor's default JSON encoder (Foundation JSONEncoder)
//   GET /user/:id   -> 200 "user <id>"                   text/plain; charset=utf-8, via req.parameters
//
// Environment "production" with arguments ["vapor-hello", "serve"], so Vapor never sees our --port/--host (its
// serve command would read --hostname/--port/--bind itself); the address is set on app.http.server.configuration.
// One thread: NIO's singleton group has one loop (Vapor's `.singleton` provider) and is Swift Concurrency's global
// executor; Vapor's blocking pool has one thread. Logging at warning, so the default RouteLoggingMiddleware's info
// line is a level check. Vapor's serve command shuts down gracefully on SIGINT/SIGTERM. Default middleware kept
// (route logging + ErrorMiddleware), as a Vapor app ships.
import Foundation
import Logging
import NIOCore
import NIOPosix
import Vapor

NIOSingletons.groupLoopCountSuggestion = 1
NIOSingletons.blockingPoolThreadCountSuggestion = 1
let ownsGlobalExecutor = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()

var port = 8080
var host = "127.0.0.1"
var arguments = CommandLine.arguments.dropFirst()[...]
while let flag = arguments.popFirst() {
    switch (flag, arguments.popFirst()) {
    case ("--port", let value?) where Int(value) != nil: port = Int(value)!
    case ("--host", let value?): host = value
    default:
        FileHandle.standardError.write(Data("usage: vapor-hello [--port P] [--host H]\n".utf8))
        exit(2)
    }
}

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .warning
    return handler
}

struct Message: Content {
    let message: String
}

let environment = Environment(name: "production", arguments: ["vapor-hello", "serve"])
var logger = Logger(label: "vapor-hello")
logger.logLevel = .warning
let app = try await Application.make(environment, .singleton, logger: logger)
app.threadPool = NIOThreadPool(numberOfThreads: 1)
app.http.server.configuration.hostname = host
app.http.server.configuration.port = port

app.get("plaintext") { _ -> String in "Hello, World!" }
app.get("json") { _ -> Message in Message(message: "Hello, World!") }
app.get("user", ":id") { req -> String in "user " + req.parameters.get("id")! }

do {
    try await app.startup()  // boots and runs `serve`: the server is listening when this returns
    print(
        "vapor-hello listening on \(host):\(port) (Vapor 4.122.3, 1 event loop, loop as global executor: \(ownsGlobalExecutor))"
    )
    fflush(nil)  // all streams: the harness reads this line through a pipe
    try await app.running?.onStop.get()
} catch {
    app.logger.report(error: error)
    try? await app.asyncShutdown()
    exit(1)
}
try await app.asyncShutdown()
