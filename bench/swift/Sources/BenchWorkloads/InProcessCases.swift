/// One in-process case: a request the three frameworks answer with the same route.
public struct InProcessCase: Sendable {
    public let name: String
    public let method: String
    public let path: String
    /// Whether Bolt's route for it has an `async` handler (Hummingbird's and Vapor's paths are async or
    /// future-based for every route anyway).
    public let async: Bool

    /// The raw request Bolt's in-process server gets (peers get the same method, path and Host).
    public var requestText: String { "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n" }

    public init(name: String, method: String, path: String, async: Bool) {
        self.name = name
        self.method = method
        self.path = path
        self.async = async
    }

    public static let staticRoute = InProcessCase(name: "static", method: "GET", path: "/plaintext", async: false)
    public static let params2 = InProcessCase(name: "params2", method: "GET", path: "/repos/ada/bolt", async: false)
    public static let middleware = InProcessCase(name: "middleware3", method: "GET", path: "/mw/plaintext", async: false)
    public static let json = InProcessCase(name: "json", method: "GET", path: "/json", async: false)
    public static let asyncStatic = InProcessCase(name: "async-static", method: "GET", path: "/async/plaintext", async: true)
    public static let asyncParams2 = InProcessCase(name: "async-params2", method: "GET", path: "/async/repos/ada/bolt", async: true)

    /// The sync cases every framework runs.
    public static let shared: [InProcessCase] = [staticRoute, params2, middleware, json]
    /// Bolt's async variants of the first two.
    public static let boltAsync: [InProcessCase] = [asyncStatic, asyncParams2]
}
