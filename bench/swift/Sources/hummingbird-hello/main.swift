// The Hummingbird 2 peer for the live-server benchmarks (bench/run-peers.sh): the same three routes as
// bench/server/fasthttp, through Hummingbird's Application + Router, on ONE thread so the harness can pin it:
//
//   swift build --package-path bench/swift -c release --product hummingbird-hello
//   taskset -c 1 bench/swift/.build/release/hummingbird-hello --port 8080 --host 127.0.0.1
//
//   GET /plaintext  -> 200 "Hello, World!"               text/plain; charset=utf-8
//   GET /json       -> 200 {"message":"Hello, World!"}   application/json; charset=utf-8, encoded per request by
//                                                        the context's responseEncoder (Foundation JSONEncoder)
//   GET /user/:id   -> 200 "user <id>"                   text/plain; charset=utf-8, via the router's parameters
//
// One thread: NIO's singleton event-loop group has one loop and is installed as Swift Concurrency's global
// executor, so Hummingbird's per-connection tasks run on that loop too (no hop to the cooperative pool); the
// blocking pool has one thread (unused here). SIGINT/SIGTERM shut down gracefully (runService's default).
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix

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
        FileHandle.standardError.write(Data("usage: hummingbird-hello [--port P] [--host H]\n".utf8))
        exit(2)
    }
}

struct Message: ResponseEncodable {
    let message: String
}

let router = Router()
router.get("/plaintext") { _, _ in "Hello, World!" }
router.get("/json") { _, _ in Message(message: "Hello, World!") }
router.get("/user/:id") { _, context in "user " + context.parameters.get("id")! }

let address = "\(host):\(port)"
var logger = Logger(label: "hummingbird-hello")
logger.logLevel = .warning
let app = Application(
    router: router,
    configuration: .init(address: .hostname(host, port: port), serverName: nil),
    onServerRunning: { channel in
        print(
            "hummingbird-hello listening on \(channel.localAddress?.description ?? address)"
                + " (Hummingbird 2.28.1, 1 event loop, loop as global executor: \(ownsGlobalExecutor))"
        )
        fflush(nil)  // all streams: the harness reads this line through a pipe
    },
    eventLoopGroupProvider: .singleton,
    logger: logger
)
try await app.runService()
