#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Serves files under a directory for `GET` and `HEAD` requests whose path starts with `prefix`; other requests,
/// and paths with no file, go on to the routes.
///
/// ```swift
/// app.use(Static(root: "public", prefix: "/assets"))  // GET /assets/app.css -> public/app.css
/// ```
///
/// - Safety: the path is taken apart before it touches the file system. Requests with `..` or `.` segments, a
///   backslash, a NUL, or an encoded dot, slash, backslash or NUL (`%2e`, `%2f`, `%5c`, `%00`) are refused with
///   404, and the resolved file (symlinks followed) must lie inside the root's resolved path.
/// - Caching: a weak `ETag` from size and modification time; `If-None-Match` gets 304.
/// - Ranges: a single `Range: bytes=…` gets 206 with `Content-Range` (several ranges get the whole file);
///   an unsatisfiable one gets 416.
/// - A directory serves its `index.html`. Files go out with `sendfile`.
public struct Static: Middleware, AsyncMiddleware {
    /// The directory, resolved when the middleware is made.
    public let root: String
    /// The URL path prefix the files live under (`/` for all).
    public let prefix: String
    let rootPrefix: String

    /// Serves files under `root` at `prefix`.
    public init(root: String, prefix: String = "/") {
        let real = resolvedPath(root) ?? root
        self.root = real
        self.prefix = prefix.hasSuffix("/") ? prefix : prefix + "/"
        rootPrefix = real.hasSuffix("/") ? real : real + "/"
    }

    public func handle(_ c: Context, next: Next) throws {
        if try serve(c) { return }
        try next()
    }

    public func handle(_ c: Context, next: AsyncNext) async throws {
        if try serve(c) { return }
        try await next()
    }

    /// The file system path for a request path, or nil when refused or outside the prefix.
    func resolve(_ path: ByteView) -> String? {
        let prefixBytes = Array(prefix.utf8)
        let raw = Array(path)
        let inside: ArraySlice<UInt8>
        if raw.count + 1 == prefixBytes.count, raw == Array(prefixBytes.dropLast()) {
            inside = []  // "/assets" for prefix "/assets/"
        } else {
            guard raw.starts(with: prefixBytes) else { return nil }
            inside = raw[prefixBytes.count...]
        }
        var segments: [String] = []
        var i = inside.startIndex
        var segment: [UInt8] = []
        func endSegment() -> Bool {
            defer { segment.removeAll() }
            if segment.isEmpty { return true }
            if segment == [0x2E] || segment == [0x2E, 0x2E] { return false }
            segments.append(String(decoding: segment, as: UTF8.self))
            return true
        }
        while i < inside.endIndex {
            let byte = inside[i]
            switch byte {
            case UInt8(ascii: "/"):
                guard endSegment() else { return nil }
                i += 1
            case UInt8(ascii: "\\"), 0:
                return nil
            case UInt8(ascii: "%"):
                guard i + 2 < inside.endIndex, let high = hexValue(inside[i + 1]), let low = hexValue(inside[i + 2]) else {
                    return nil
                }
                let decoded = high << 4 | low
                // encoded separators, dots and NUL are how traversal hides: refuse them outright
                guard decoded != UInt8(ascii: "/"), decoded != UInt8(ascii: "\\"), decoded != UInt8(ascii: "."), decoded != 0 else {
                    return nil
                }
                segment.append(decoded)
                i += 3
            default:
                segment.append(byte)
                i += 1
            }
        }
        guard endSegment() else { return nil }
        return segments.isEmpty ? root : rootPrefix + segments.joined(separator: "/")
    }

    /// Answers the request if it is for a file here. True when answered.
    func serve(_ c: Context) throws -> Bool {
        guard c.method == .get || c.method == .head, let candidate = resolve(c.path) else { return false }
        guard var file = resolvedPath(candidate) else { return false }
        guard file == root || file.hasPrefix(rootPrefix) else { return false }  // a symlink out of the root
        var info = stat()
        guard stat(file, &info) == 0 else { return false }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            guard let index = resolvedPath(file + "/index.html") else { return false }
            file = index
            guard file.hasPrefix(rootPrefix), stat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return false }
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return false }
        let size = UInt64(info.st_size)
        let etag = "W/\"\(String(size, radix: 16))-\(String(info.st_mtim.tv_sec, radix: 16))\(String(info.st_mtim.tv_nsec, radix: 16))\""
        try c.setHeader("ETag", etag)
        try c.setHeader("Accept-Ranges", "bytes")
        if let match = c.header("If-None-Match"), etagMatches(match, etag) {
            c.status(.notModified)
            return true
        }
        var offset: UInt64 = 0
        var length = size
        if let range = c.header("Range") {
            switch parseRange(range, size: size) {
            case .whole:
                break
            case .part(let start, let count):
                offset = start
                length = count
                c.status = .partialContent
                try c.setHeader("Content-Range", "bytes \(start)-\(start + count - 1)/\(size)")
            case .unsatisfiable:
                try c.setHeader("Content-Range", "bytes */\(size)")
                c.status(.rangeNotSatisfiable)
                return true
            }
        }
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HTTPError(.forbidden) }
        try c.setHeader("Content-Type", MediaTypes.forPath(file))
        c.withResponse { $0.file(descriptor: fd, offset: offset, length: length) }
        return true
    }
}

/// The absolute path with symlinks, `.` and `..` resolved, or nil when it does not exist.
func resolvedPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}


/// `If-None-Match` against an entity tag (weak comparison, RFC 9110 13.1.2); `*` matches any.
func etagMatches(_ header: String, _ etag: String) -> Bool {
    func opaque(_ tag: Substring) -> Substring { tag.hasPrefix("W/") ? tag.dropFirst(2) : tag }
    let mine = opaque(etag[...])
    return header.split(separator: ",").contains { part in
        let tag = part.trimmingCharacters()
        return tag == "*" || opaque(tag) == mine
    }
}

enum RangeRequest: Equatable {
    case whole
    case part(start: UInt64, count: UInt64)
    case unsatisfiable
}

/// A `Range` value for a file of `size` bytes (RFC 9110 14.2): one `bytes=` range is honoured; anything else
/// (other units, several ranges, syntax errors) is ignored and the whole file is sent.
func parseRange(_ value: String, size: UInt64) -> RangeRequest {
    guard value.hasPrefix("bytes=") else { return .whole }
    let spec = value.dropFirst(6)
    guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
    let first = spec[..<dash].trimmingCharacters()
    let last = spec[spec.index(after: dash)...].trimmingCharacters()
    if first.isEmpty {
        guard let suffix = UInt64(last), suffix > 0 else { return last.isEmpty ? .whole : .unsatisfiable }
        guard size > 0 else { return .unsatisfiable }
        let count = min(suffix, size)
        return .part(start: size - count, count: count)
    }
    guard let start = UInt64(first) else { return .whole }
    guard start < size else { return .unsatisfiable }
    var end = size - 1
    if !last.isEmpty {
        guard let requested = UInt64(last), requested >= start else { return .whole }
        end = min(requested, size - 1)
    }
    return .part(start: start, count: end - start + 1)
}

extension Substring {
    /// Without leading and trailing spaces.
    func trimmingCharacters() -> Substring {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return s
    }
}
