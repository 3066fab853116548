/// Collects routes while an app is being set up, rejecting bad patterns and conflicts as they are added, and
/// compiles them into an immutable ``Router`` when the app starts.
///
/// Each method has its own radix tree. A pattern is a path whose segments are one of:
///
/// - static bytes, matched exactly against the raw (still percent-encoded) request path;
/// - `:name`, a parameter: one non-empty segment, up to the next `/` (an encoded slash, `%2F`, stays inside it);
/// - `*name`, a wildcard, only as the last segment: the rest of the path, slashes included, possibly empty
///   (`/static/*file` matches `/static/` and `/static/a/b`, not `/static`).
///
/// Where several routes match, static beats parameter beats wildcard, segment by segment from the left; when
/// the preferred branch fails deeper, the next one is tried (`/users/new` and `/users/:id/edit` both exist:
/// `/users/new/edit` matches the second).
///
/// The value of a route is an `Int` of the caller's choosing (an index into its own handler table); the
/// router hands it back from ``Router/lookup(_:path:into:)``.
///
/// A builder is a plain value used on one thread during setup; ``compile()`` leaves it unchanged.
public struct RouterBuilder: Sendable {
    /// Whether a path with no route is answered with ``RouteMatch/redirect(_:)`` when the same path with a
    /// trailing slash added or removed has a route for the method. On by default, as in Gin and httprouter.
    public var redirectsTrailingSlash = true

    /// The tree nodes of every method; index 0 onwards, children by index.
    var nodes: [Node] = []
    /// The root of each method's tree, by ``slot(_:)``; each root has an empty prefix and one child.
    var roots = [Int?](repeating: nil, count: RouterBuilder.slotCount)
    /// Every route registered, in order; a node's `route` indexes it.
    var routes: [Route] = []

    /// Slots 1...9 are the methods by raw value; slot 0 (``HTTPMethod/other``) stays empty; the last is "any".
    static let slotCount = 11
    static let anySlot = 10

    /// An empty builder.
    public init() {}

    /// Registers `pattern` for `method`, with the `value` that ``Router/lookup(_:path:into:)`` returns for it.
    ///
    /// A pattern starts with `/`; its segments are static text, `:name` or a final `*name` (see
    /// ``RouterBuilder``). It is rejected when it is malformed: a `:` or `*` other than at the start of a
    /// segment, an empty name, a name used twice, a wildcard before the last segment, an empty segment
    /// (`//`), or a byte other than visible ASCII (write non-ASCII text percent-encoded, as clients send it),
    /// `?` or `#`. It conflicts with a route of the same method that is the same route, or that has a
    /// parameter (or wildcard) of another name at the same position.
    ///
    /// ``HTTPMethod/other`` cannot be routed by its token: register such routes with
    /// ``addForAnyMethod(_:value:)`` and read ``Request/methodBytes`` in the handler.
    public mutating func add(_ method: HTTPMethod, _ pattern: String, value: Int) throws(RouteError) {
        guard method != .other else {
            throw RouteError(
                .unsupportedMethod,
                "cannot route \(pattern) on HTTPMethod.other: register it for any method and check the method's token"
            )
        }
        try insert(slot: Int(method.rawValue), method: method.description, pattern, value: value)
    }

    /// Registers `pattern` for every method, including ``HTTPMethod/other``. A method's own routes are tried
    /// first, then these (so they never cause a 405).
    public mutating func addForAnyMethod(_ pattern: String, value: Int) throws(RouteError) {
        try insert(slot: Self.anySlot, method: "ANY", pattern, value: value)
    }

    /// The routes as an immutable router, with its tables laid out flat for lookup.
    public func compile() -> Router {
        var flat: [Router.Node] = []
        var pool: [UInt8] = []
        var nameIDs: [String: UInt32] = [:]
        var names: [String] = []
        var rootIndices = [Int32](repeating: -1, count: Self.slotCount)
        // Literal children are scanned in order, so the ones with the most routes below them come first (as in
        // httprouter), then by first byte.
        var weights = [Int](repeating: 0, count: nodes.count)
        func weigh(_ index: Int) -> Int {
            let node = nodes[index]
            weights[index] = (node.route == nil ? 0 : 1)
                + (node.children + [node.parameter, node.wildcard].compactMap { $0 }).reduce(0) { $0 + weigh($1) }
            return weights[index]
        }
        for root in roots.compactMap({ $0 }) { _ = weigh(root) }
        // Breadth first, so that the static children of a node are consecutive and found from its first.
        var order: [Int] = []
        var firstBytes: [UInt8] = []
        var folded: Set<Int> = []
        func enqueue(_ index: Int, firstByte: UInt8 = 0) {
            order.append(index)
            firstBytes.append(firstByte)
        }
        // A literal that is only its first byte (a `/`, matched by its parent) and leads only to a parameter is
        // folded into the parameter, which skips that byte: one step less for each parameter of a path.
        func enqueueLiteral(_ index: Int) {
            let node = nodes[index]
            if node.prefix.count == 1 && node.children.isEmpty && node.route == nil && node.wildcard == nil,
                let parameter = node.parameter
            {
                folded.insert(parameter)
                enqueue(parameter, firstByte: node.prefix[0])
            } else {
                enqueue(index, firstByte: node.prefix[0])
            }
        }
        for (slot, root) in roots.enumerated() {
            guard let root else { continue }
            rootIndices[slot] = Int32(order.count)
            enqueueLiteral(nodes[root].children[0])
        }
        var index = 0
        while index < order.count {
            let node = nodes[order[index]]
            let prefixStart = pool.count
            pool += node.prefix.dropFirst()  // the first byte is matched before the node is entered
            let firstChild = order.count
            node.children.sorted { (-weights[$0], nodes[$0].prefix[0]) < (-weights[$1], nodes[$1].prefix[0]) }
                .forEach(enqueueLiteral)
            var nameID: UInt32 = 0
            if node.kind != .literal {
                if let id = nameIDs[node.name] {
                    nameID = id
                } else {
                    nameID = UInt32(names.count)
                    nameIDs[node.name] = nameID
                    names.append(node.name)
                }
            }
            func place(_ child: Int?) -> Int32 {
                guard let child else { return -1 }
                enqueue(child)
                return Int32(order.count - 1)
            }
            let prefixCount = node.kind == .literal ? node.prefix.count : folded.contains(order[index]) ? 1 : 0
            flat.append(
                Router.Node(
                    prefixStart: UInt32(prefixStart), prefixCount: UInt32(prefixCount),
                    firstChild: UInt32(firstChild), parameter: place(node.parameter), wildcard: place(node.wildcard),
                    route: node.route.map { Int32($0) } ?? -1, nameID: nameID, childCount: UInt16(node.children.count),
                    kind: node.kind))
            index += 1
        }
        return Router(
            nodes: flat, firstBytes: firstBytes, pool: pool, names: names,
            values: routes.map(\.value), roots: rootIndices, redirectsTrailingSlash: redirectsTrailingSlash)
    }
}

extension RouterBuilder {
    /// A node of the tree being built. A literal node matches its prefix; a parameter or wildcard node has no
    /// prefix and a name. Literal children start with distinct bytes.
    struct Node: Sendable {
        enum Kind: UInt8, Sendable {
            case literal, parameter, wildcard
        }

        var kind: Kind
        var prefix: [UInt8] = []
        var name = ""
        var children: [Int] = []
        var parameter: Int?
        var wildcard: Int?
        var route: Int?
        /// The route that created this parameter or wildcard node, named in conflict messages.
        var origin = 0
    }

    struct Route: Sendable, CustomStringConvertible {
        let method: String
        let pattern: String
        let value: Int
        var description: String { "\(method) \(pattern)" }
    }

    /// A pattern cut at its parameters: runs of static bytes (slashes included), parameters and a wildcard.
    enum Token: Equatable {
        case literal([UInt8])
        case parameter(String)
        case wildcard(String)
    }

    /// Adds a route to a slot's tree. Nothing in the tree changes when it throws: a conflict is found only at a
    /// node that already existed, along a path that already existed.
    mutating func insert(slot: Int, method: String, _ pattern: String, value: Int) throws(RouteError) {
        let route = Route(method: method, pattern: pattern, value: value)
        let tokens = try Self.parse(pattern)
        var node: Int
        if let root = roots[slot] {
            node = root
        } else {
            node = nodes.count
            nodes.append(Node(kind: .literal))
            roots[slot] = node
        }
        for token in tokens {
            switch token {
            case .literal(let bytes): node = insertLiteral(bytes[...], at: node)
            case .parameter(let name): node = try variableChild(of: node, .parameter, name, for: route)
            case .wildcard(let name): node = try variableChild(of: node, .wildcard, name, for: route)
            }
        }
        if let existing = nodes[node].route {
            throw RouteError(.conflict, "route \(route) conflicts with \(routes[existing]): it is registered twice")
        }
        nodes[node].route = routes.count
        routes.append(route)
    }

    /// Walks `bytes` down from `node` (a node with an empty prefix, or one whose prefix shares the first byte),
    /// splitting a node where the bytes leave its prefix, and returns the node where they end.
    mutating func insertLiteral(_ bytes: ArraySlice<UInt8>, at node: Int) -> Int {
        var node = node
        var bytes = bytes
        while true {
            let prefix = nodes[node].prefix
            var common = 0
            while common < prefix.count && common < bytes.count && prefix[common] == bytes[bytes.startIndex + common] {
                common += 1
            }
            if common < prefix.count {
                var tail = nodes[node]
                tail.prefix = Array(prefix[common...])
                nodes.append(tail)
                nodes[node].prefix.removeLast(prefix.count - common)
                nodes[node].children = [nodes.count - 1]
                nodes[node].parameter = nil
                nodes[node].wildcard = nil
                nodes[node].route = nil
            }
            bytes = bytes.dropFirst(common)
            guard let first = bytes.first else { return node }
            if let child = nodes[node].children.first(where: { nodes[$0].prefix.first == first }) {
                node = child
                continue
            }
            nodes.append(Node(kind: .literal, prefix: Array(bytes)))
            nodes[node].children.append(nodes.count - 1)
            return nodes.count - 1
        }
    }

    /// The parameter or wildcard child of `node` named `name`, created if absent; a child of another name is a
    /// conflict.
    mutating func variableChild(of node: Int, _ kind: Node.Kind, _ name: String, for route: Route) throws(RouteError)
        -> Int
    {
        if let child = kind == .parameter ? nodes[node].parameter : nodes[node].wildcard {
            guard nodes[child].name == name else {
                let sigil = kind == .parameter ? ":" : "*"
                throw RouteError(
                    .conflict,
                    "route \(route) conflicts with \(routes[nodes[child].origin]): \(sigil)\(name) and "
                        + "\(sigil)\(nodes[child].name) name the same segment; use one name")
            }
            return child
        }
        nodes.append(Node(kind: kind, name: name, origin: routes.count))
        if kind == .parameter { nodes[node].parameter = nodes.count - 1 } else { nodes[node].wildcard = nodes.count - 1 }
        return nodes.count - 1
    }

    /// Checks a pattern's syntax and cuts it into tokens.
    static func parse(_ pattern: String) throws(RouteError) -> [Token] {
        func invalid(_ reason: String) -> RouteError {
            RouteError(.invalidPattern, "invalid route pattern \"\(pattern)\": \(reason)")
        }
        let bytes = Array(pattern.utf8)
        guard bytes.first == UInt8(ascii: "/") else { throw invalid("it must start with '/'") }
        if let bad = bytes.first(where: { $0 <= 0x20 || $0 >= 0x7F || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") }) {
            throw invalid(
                "byte 0x\(String(bad, radix: 16)) is not allowed; write non-ASCII text percent-encoded, and no "
                    + "query or fragment")
        }
        var tokens: [Token] = []
        var literal: [UInt8] = []
        var names: Set<String> = []
        var start = 0  // at a '/'
        while start < bytes.count {
            var end = start + 1
            while end < bytes.count && bytes[end] != UInt8(ascii: "/") { end += 1 }
            let segment = bytes[(start + 1)..<end]
            literal.append(UInt8(ascii: "/"))
            let sigil = segment.first
            if sigil == UInt8(ascii: ":") || sigil == UInt8(ascii: "*") {
                let name = segment.dropFirst()
                guard !name.isEmpty else { throw invalid("a parameter or wildcard needs a name") }
                guard !name.contains(UInt8(ascii: ":")) && !name.contains(UInt8(ascii: "*")) else {
                    throw invalid("':' and '*' may only start a segment")
                }
                let text = String(decoding: name, as: UTF8.self)
                guard names.insert(text).inserted else { throw invalid("the name '\(text)' is used twice") }
                tokens.append(.literal(literal))
                literal = []
                if sigil == UInt8(ascii: ":") {
                    tokens.append(.parameter(text))
                } else {
                    guard end == bytes.count else { throw invalid("a wildcard must be the last segment") }
                    tokens.append(.wildcard(text))
                }
            } else {
                guard !segment.isEmpty || end == bytes.count else { throw invalid("empty segment ('//')") }
                guard !segment.contains(UInt8(ascii: ":")) && !segment.contains(UInt8(ascii: "*")) else {
                    throw invalid("':' and '*' may only start a segment")
                }
                literal += segment
            }
            start = end
        }
        if !literal.isEmpty { tokens.append(.literal(literal)) }
        return tokens
    }
}
