@_spi(Internal) import Hummingbird

/// Hummingbird 2's router trie (`RouterTrie`, what `RouterResponder` resolves with): resolve the path String to
/// the per-method table and the `Parameters`, pick the method's entry, call the handler — the same steps as
/// `RouterResponder.respond(to:context:)` minus the responder call.
public final class HummingbirdRouterWorkload: SyncWorkload, @unchecked Sendable {
    struct Methods: Sendable { var table: [HTTPRequest.Method: Int] }
    let trie: RouterTrie<Methods>
    let handlers: [(Parameters) -> Int]
    let requests: [(method: HTTPRequest.Method, path: String)]

    public init(_ routerCase: RouterCase) {
        var byPattern: [String: Methods] = [:]
        var order: [String] = []
        for (index, route) in GitHubRoutes.all.enumerated() {
            if byPattern[route.pattern] == nil { order.append(route.pattern) }
            byPattern[route.pattern, default: Methods(table: [:])].table[HTTPRequest.Method(route.method)!] = index
        }
        let builder = RouterPathTrieBuilder<Methods>()
        for pattern in order { builder.addEntry(RouterPath(pattern), value: byPattern[pattern]!) }
        trie = builder.build()
        handlers = GitHubRoutes.all.map { _ in { $0.count &+ 1 } }
        requests = routerCase.requests.map { (HTTPRequest.Method($0.method)!, $0.path) }
        precondition(run(1) > 0)
    }

    public func run(_ n: Int) -> Int {
        let trie = self.trie, handlers = self.handlers, requests = self.requests
        var sink = 0
        for _ in 0..<n {
            for request in requests {
                guard let (methods, parameters) = trie.resolve(request.path),
                    let index = methods.table[request.method]
                else { fatalError("Hummingbird: no route for \(request.method) \(request.path)") }
                sink &+= handlers[index](parameters)
            }
        }
        return sink
    }
}
