/// The outcome of ``Router/lookup(_:path:into:)``.
public enum RouteMatch: Equatable, Sendable {
    /// A route matched; its value as registered. Its parameters are in the ``PathParameters`` passed in.
    case found(Int)
    /// No route of the request's method matches, but routes of these methods do: answer 405 with
    /// ``MethodSet/allowHeaderValue`` as `Allow`. A set with `GET` includes `HEAD`.
    case methodNotAllowed(MethodSet)
    /// No route matches, but one does with a trailing slash added or removed (only when
    /// ``RouterBuilder/redirectsTrailingSlash`` is on): answer with a redirect there (Gin uses 301 for GET,
    /// 307 for other methods), keeping the query.
    case redirect(TrailingSlash)
    /// No route of any method matches: answer 404.
    case notFound

    /// How to change a path to reach a route.
    public enum TrailingSlash: Sendable {
        /// Append `/` to the path.
        case add
        /// Remove the path's final `/`.
        case remove
    }
}

/// The routes of an app, compiled once when it starts: a radix tree per method, laid out in flat tables that
/// every thread reads without locks. Build it with ``RouterBuilder``; it cannot change afterwards.
///
/// A lookup runs on the raw path bytes: it builds no `String`, allocates nothing (up to eight parameters, see
/// ``PathParameters``) and touches no reference count. Static segments match raw bytes exactly, so the router
/// sees `%2F` as three bytes inside a segment, never as a separator; parameter values stay percent-encoded
/// until asked for as a `String` (``PathParameters/string(_:)-(StaticString)``).
public final class Router: @unchecked Sendable {
    // @unchecked: the tables are written once, in init, and only read afterwards; deinit frees them.

    /// A node of the flat tree (32 bytes). A literal node matches `prefixCount` bytes: the first is matched
    /// before it is entered (by its parent's `firstBytes`, or for a root by ``lookup(_:path:into:)``'s check for
    /// `/`), the others are at `prefixStart` in the pool. A parameter skips `prefixCount` bytes (1 where the
    /// literal `/` before it was folded into it), then matches one non-empty segment; a wildcard matches the rest
    /// of the path. Its literal children are `firstChild..<firstChild + childCount`, with their
    /// first bytes at the same indices in `firstBytes`; `parameter`, `wildcard` and `route` are -1 when absent.
    /// `nameID` names a parameter or wildcard.
    struct Node {
        var prefixStart: UInt32
        var prefixCount: UInt32
        var firstChild: UInt32
        var parameter: Int32
        var wildcard: Int32
        var route: Int32
        var nameID: UInt32
        var childCount: UInt16
        var kind: RouterBuilder.Node.Kind
    }

    /// A frame of the backtracking stack: where to resume at `node` when the branch taken there fails.
    struct Frame {
        var node: UInt32
        var position: UInt32
        var parameterCount: UInt32
        /// Whether the parameter child is still to be tried (else only the wildcard child is).
        var triesParameter: Bool
    }

    let nodes: UnsafeMutablePointer<Node>
    let firstBytes: UnsafeMutablePointer<UInt8>
    /// Literal prefixes, then parameter names.
    let pool: UnsafeMutablePointer<UInt8>
    let names: UnsafeMutablePointer<PathParameters.Name>
    let values: UnsafeMutablePointer<Int>
    /// The first node of each method's tree by ``RouterBuilder`` slot, or -1.
    let roots: UnsafeMutablePointer<Int32>
    /// The most frames a walk can push: the most nodes with alternatives on one root-to-leaf path.
    let backtrackDepth: Int

    /// Whether misses are checked for a route with the trailing slash toggled (see ``RouteMatch/redirect(_:)``).
    public let redirectsTrailingSlash: Bool

    init(
        nodes: [Node], firstBytes: [UInt8], pool: [UInt8], names: [String], values: [Int], roots: [Int32],
        redirectsTrailingSlash: Bool
    ) {
        func allocate<T>(_ array: [T]) -> UnsafeMutablePointer<T> {
            let pointer = UnsafeMutablePointer<T>.allocate(capacity: max(array.count, 1))
            pointer.initialize(from: array, count: array.count)
            return pointer
        }
        self.nodes = allocate(nodes)
        self.firstBytes = allocate(firstBytes)
        self.pool = allocate(pool + names.flatMap(\.utf8))
        var nameStart = pool.count
        var nameTable: [PathParameters.Name] = []
        for name in names {
            nameTable.append(PathParameters.Name(bytes: self.pool + nameStart, count: name.utf8.count))
            nameStart += name.utf8.count
        }
        self.names = allocate(nameTable)
        self.values = allocate(values)
        self.roots = allocate(roots)
        func depth(_ index: Int32) -> Int {
            guard index >= 0 else { return 0 }
            let node = nodes[Int(index)]
            var deepest = max(depth(node.parameter), depth(node.wildcard))
            for child in 0..<Int(node.childCount) { deepest = max(deepest, depth(Int32(node.firstChild) + Int32(child))) }
            let branches = (node.childCount > 0 ? 1 : 0) + (node.parameter >= 0 ? 1 : 0) + (node.wildcard >= 0 ? 1 : 0)
            return deepest + (branches > 1 ? 1 : 0)
        }
        self.backtrackDepth = max(roots.map(depth).max() ?? 0, 1)
        self.redirectsTrailingSlash = redirectsTrailingSlash
    }

    deinit {
        nodes.deallocate()
        firstBytes.deallocate()
        pool.deallocate()
        names.deallocate()
        values.deallocate()
        roots.deallocate()
    }

    /// Finds the route for `method` and `path`, putting its parameters into `params` (which it empties first).
    ///
    /// `path` is the request's path, without the query and not percent-decoded (``Request/path``); one that does
    /// not start with `/` (empty, `*`) is ``RouteMatch/notFound``, so map an absolute-form target without a path
    /// to `/` before. A method's own routes are tried first, then for `HEAD` the `GET` routes, then the routes
    /// for any method. On a miss, the trailing-slash redirect (when on) comes before 405, and 405 before 404.
    ///
    /// `params` borrows `path` and the router's name table: it is valid while both are, that is until the
    /// handler returns.
    public func lookup(_ method: HTTPMethod, path: ByteView, into params: inout PathParameters) -> RouteMatch {
        params.reset(path: path, names: UnsafePointer(names))
        return path.withUnsafeBytes { raw in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self), base[0] == UInt8(ascii: "/") else {
                return .notFound
            }
            let route = match(method, base, raw.count, &params)
            return route >= 0 ? .found(values[route]) : miss(method, base, raw.count, &params)
        }
    }

    /// The route index for `method`, with the HEAD → GET and any-method fallbacks, or -1.
    @inline(__always)
    func match(_ method: HTTPMethod, _ base: UnsafePointer<UInt8>, _ length: Int, _ params: inout PathParameters)
        -> Int
    {
        var route = walk(roots[Int(method.rawValue)], base, length, &params)
        if route < 0 && method == .head { route = walk(roots[Int(HTTPMethod.get.rawValue)], base, length, &params) }
        if route < 0 { route = walk(roots[RouterBuilder.anySlot], base, length, &params) }
        return route
    }

    /// The answer when no route matched: a redirect, 405 or 404.
    @inline(never)
    func miss(_ method: HTTPMethod, _ base: UnsafePointer<UInt8>, _ length: Int, _ params: inout PathParameters)
        -> RouteMatch
    {
        defer { params.count = 0 }
        if redirectsTrailingSlash {
            if length > 1 && base[length - 1] == UInt8(ascii: "/") {
                if match(method, base, length - 1, &params) >= 0 { return .redirect(.remove) }
            } else {
                let found = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: length + 1) { slashed in
                    slashed.baseAddress!.initialize(from: base, count: length)
                    slashed[length] = UInt8(ascii: "/")
                    return match(method, slashed.baseAddress!, length + 1, &params) >= 0
                }
                if found { return .redirect(.add) }
            }
        }
        var allowed = MethodSet()
        for other in HTTPMethod.allCases where walk(roots[Int(other.rawValue)], base, length, &params) >= 0 {
            allowed.insert(other)
        }
        if allowed.contains(.get) { allowed.insert(.head) }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed)
    }

    /// Matches `base[0..<length]` in the tree at `root`, depth first (literal, then parameter, then wildcard
    /// children), appending parameters as it goes. Returns the route index, or -1.
    @inline(__always)
    func walk(_ root: Int32, _ base: UnsafePointer<UInt8>, _ length: Int, _ params: inout PathParameters) -> Int {
        guard root >= 0 else { return -1 }
        return withUnsafeTemporaryAllocation(of: Frame.self, capacity: backtrackDepth) { stack in
            let stack = stack.baseAddress!
            var depth = 0
            var index = Int(root)
            var position = 0
            while true {
                let node = nodes + index
                var matched = true
                switch node.pointee.kind {
                case .literal:
                    let count = Int(node.pointee.prefixCount)
                    matched = count <= length &- position
                        && bytesEqual(base + (position &+ 1), pool + Int(node.pointee.prefixStart), count &- 1)
                    position &+= count
                case .parameter:
                    position &+= Int(node.pointee.prefixCount)
                    let end = segmentEnd(base, position, length)
                    matched = end > position
                    params.append(node.pointee.nameID, position, end)
                    position = end
                case .wildcard:
                    params.append(node.pointee.nameID, position, length)
                    position = length
                }
                if matched {
                    if position == length {
                        if node.pointee.route >= 0 { return Int(node.pointee.route) }
                        if node.pointee.wildcard >= 0 {
                            index = Int(node.pointee.wildcard)
                            continue
                        }
                    } else {
                        let byte = base[position]
                        let first = Int(node.pointee.firstChild)
                        let count = Int(node.pointee.childCount)
                        // A scan, not a table: its branches are predicted, where a table load would be waited for.
                        var child = 0
                        while child < count && firstBytes[first &+ child] != byte { child &+= 1 }
                        let hasVariable = node.pointee.parameter >= 0 || node.pointee.wildcard >= 0
                        if child < count {
                            if hasVariable {
                                stack[depth] = Frame(
                                    node: UInt32(index), position: UInt32(position),
                                    parameterCount: UInt32(params.count), triesParameter: node.pointee.parameter >= 0)
                                depth &+= 1
                            }
                            index = first &+ child
                            continue
                        }
                        if hasVariable {
                            if node.pointee.parameter >= 0 && node.pointee.wildcard >= 0 {
                                stack[depth] = Frame(
                                    node: UInt32(index), position: UInt32(position),
                                    parameterCount: UInt32(params.count), triesParameter: false)
                                depth &+= 1
                            }
                            index = Int(node.pointee.parameter >= 0 ? node.pointee.parameter : node.pointee.wildcard)
                            continue
                        }
                    }
                }
                // Backtrack to the deepest node with a branch left to try.
                guard depth > 0 else {
                    params.count = 0
                    return -1
                }
                depth &-= 1
                let frame = stack[depth]
                let parent = nodes[Int(frame.node)]
                position = Int(frame.position)
                params.count = Int(frame.parameterCount)
                if frame.triesParameter {
                    if parent.wildcard >= 0 {
                        stack[depth].triesParameter = false
                        depth &+= 1
                    }
                    index = Int(parent.parameter)
                } else {
                    index = Int(parent.wildcard)
                }
            }
        }
    }
}

/// The index of the first `/` in `base[position..<length]`, or `length`; eight bytes at a time.
@inline(__always)
func segmentEnd(_ base: UnsafePointer<UInt8>, _ position: Int, _ length: Int) -> Int {
    let slashes: UInt64 = 0x2F2F_2F2F_2F2F_2F2F
    var end = position
    while end &+ 8 <= length {
        let word = UnsafeRawPointer(base + end).loadUnaligned(as: UInt64.self) ^ slashes
        // The lowest byte of `word` that is zero (a slash) has its high bit set here; bytes above it may too.
        let zeros = (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080
        if zeros != 0 { return end &+ zeros.trailingZeroBitCount &>> 3 }
        end &+= 8
    }
    while end < length && base[end] != UInt8(ascii: "/") { end &+= 1 }
    return end
}

/// Whether `count` bytes at `a` and `b` are equal, compared a word at a time (the last word overlapping).
@inlinable @inline(__always)
func bytesEqual(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ count: Int) -> Bool {
    func load<T: FixedWidthInteger>(_ p: UnsafePointer<UInt8>, _ offset: Int, _: T.Type) -> T {
        UnsafeRawPointer(p).loadUnaligned(fromByteOffset: offset, as: T.self)
    }
    if count >= 8 {
        var i = 0
        while i &+ 8 < count {
            if load(a, i, UInt64.self) != load(b, i, UInt64.self) { return false }
            i &+= 8
        }
        return load(a, count &- 8, UInt64.self) == load(b, count &- 8, UInt64.self)
    }
    if count >= 4 {
        return load(a, 0, UInt32.self) == load(b, 0, UInt32.self)
            && load(a, count &- 4, UInt32.self) == load(b, count &- 4, UInt32.self)
    }
    if count >= 2 {
        return load(a, 0, UInt16.self) == load(b, 0, UInt16.self)
            && load(a, count &- 2, UInt16.self) == load(b, count &- 2, UInt16.self)
    }
    return count == 0 || a[0] == b[0]
}
