import Bolt
import CMallocCounter
import Testing

/// Bolt's share of the zero-allocation promise: a synchronous route — static, with path parameters, or behind
/// Logger, RequestID and Recover — makes no heap allocation per request after warm-up (release build). JSON and
/// async routes are reported. Part of the serialized ZeroAllocationTests suite: the counter sees every loop
/// thread of the process, so no other server may run meanwhile.
extension ZeroAllocationTests {
    struct BoltMessage: Encodable {
        let message: String
    }

    static func boltApp() -> App {
        let app = App()
        app.get("/plaintext") { c in c.text("Hello, World!") }
        app.get("/user/:id") { c in c.text("user " + (c.param("id") ?? "")) }
        app.get("/repos/:owner/:repo") { c in c.text(c.param("owner")! + "/" + c.param("repo")!) }
        app.get("/json") { c in try c.json(BoltMessage(message: "Hello, World!")) }
        app.get("/async") { c async in c.text("Hello, World!") }
        let logged = app.group("/mw", Logger(sink: DiscardingSink()), RequestID(), Recover())
        logged.get("/plaintext") { c in c.text("Hello, World!") }
        return app
    }

    func boltCount(_ path: String, backend: ServerConfiguration.Backend) throws -> UInt64? {
        guard sw_test_alloc_supported() != 0 else {
            print("BoltAllocationTests: malloc is not interposed in this build (sanitizer); nothing counted")
            return nil
        }
        let app = Self.boltApp()
        return try ZeroAllocationTests.measure(path, requests: 10_000, batch: 1, backend: backend) { configuration in
            try app.makeServer(configuration: configuration)
        }
    }

    @Test(arguments: Self.backends, ["/plaintext", "/user/42", "/repos/apple/swift", "/mw/plaintext"])
    func boltSynchronousRoutesAllocateNothingPerRequest(_ backend: ServerConfiguration.Backend, _ path: String) throws {
        guard let count = try boltCount(path, backend: backend) else { return }
        print("BoltAllocationTests: \(backend): \(count) allocations on the loop thread for 10000 requests to \(path)")
        #if !DEBUG
        #expect(count < 50, "\(count) allocations for 10,000 requests to \(path)")
        #endif
    }

    @Test(arguments: Self.backends, ["/json", "/async"])
    func boltJSONAndAsyncRoutesAreReported(_ backend: ServerConfiguration.Backend, _ path: String) throws {
        guard let count = try boltCount(path, backend: backend) else { return }
        let perRequest = Double(count) / 10_000
        print("BoltAllocationTests: \(backend): \(path): \(perRequest) allocations per request")
        #if !DEBUG
        #expect(perRequest <= 8, "\(perRequest) allocations per request to \(path)")
        #endif
    }
}
