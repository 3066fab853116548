/// Cross-origin resource sharing (the Fetch standard's CORS protocol).
///
/// A preflight (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin is answered here with 204
/// and the allowed methods and headers, whether or not the path has an `OPTIONS` route (``App/use(_:)`` wraps the
/// 404 and 405 answers too, so put CORS there). Other requests from an allowed origin get
/// `Access-Control-Allow-Origin` (and `Vary: Origin` when the answer depends on the origin). Requests from other
/// origins pass through without CORS fields, so browsers refuse them.
public struct CORS: Middleware, AsyncMiddleware {
    /// Which origins may call.
    public enum Origins: Sendable {
        /// Any origin (`*`; with credentials, the request's origin is echoed instead, as the standard requires).
        case any
        /// Exactly these origins (`https://app.example.com`).
        case list([String])
    }

    public var origins: Origins
    public var methods: [HTTPMethod]
    public var headers: [String]
    public var exposedHeaders: [String]
    public var allowCredentials: Bool
    /// How long a preflight may be cached, in seconds.
    public var maxAge: Int?

    public init(
        origins: Origins = .any, methods: [HTTPMethod] = [.get, .head, .post, .put, .patch, .delete],
        headers: [String] = ["Content-Type", "Authorization"], exposedHeaders: [String] = [],
        allowCredentials: Bool = false, maxAge: Int? = 600
    ) {
        self.origins = origins
        self.methods = methods
        self.headers = headers
        self.exposedHeaders = exposedHeaders
        self.allowCredentials = allowCredentials
        self.maxAge = maxAge
    }

    /// Adds the CORS fields; true when the request was a preflight and is answered.
    private func apply(_ c: Context) throws -> Bool {
        guard let origin = c.headerBytes("Origin") else { return false }
        let allowOrigin: String
        var varies = true
        switch origins {
        case .any where !allowCredentials:
            allowOrigin = "*"
            varies = false
        case .any:
            allowOrigin = origin.string
        case .list(let list):
            guard let match = list.first(where: { origin.equals($0) }) else { return false }
            allowOrigin = match
        }
        try c.setHeader("Access-Control-Allow-Origin", allowOrigin, keepOnError: true)
        if varies { try c.setHeader("Vary", "Origin", keepOnError: true) }
        if allowCredentials { try c.setHeader("Access-Control-Allow-Credentials", "true", keepOnError: true) }
        if c.method == .options, c.headerBytes("Access-Control-Request-Method") != nil {
            try c.setHeader("Access-Control-Allow-Methods", methods.map(\.description).joined(separator: ", "), keepOnError: true)
            if !headers.isEmpty { try c.setHeader("Access-Control-Allow-Headers", headers.joined(separator: ", "), keepOnError: true) }
            if let maxAge { try c.setHeader("Access-Control-Max-Age", String(maxAge), keepOnError: true) }
            c.status(.noContent)
            return true
        }
        if !exposedHeaders.isEmpty {
            try c.setHeader("Access-Control-Expose-Headers", exposedHeaders.joined(separator: ", "), keepOnError: true)
        }
        return false
    }

    public func handle(_ c: Context, next: Next) throws {
        if try apply(c) { return }
        try next()
    }

    public func handle(_ c: Context, next: AsyncNext) async throws {
        if try apply(c) { return }
        try await next()
    }
}

/// HTTP Basic authentication (RFC 7617): requests without valid credentials get 401 with
/// `WWW-Authenticate: Basic realm="…"`; valid ones go on with the user name in ``Context/user``.
///
/// Send it only over TLS (a proxy in front of Shockwave): Basic credentials are a password in clear text.
public struct BasicAuth: Middleware, AsyncMiddleware {
    let realm: String
    let validate: @Sendable (_ user: String, _ password: String) -> Bool

    /// Checks credentials with `validate`.
    public init(realm: String = "restricted", validate: @escaping @Sendable (_ user: String, _ password: String) -> Bool) {
        self.realm = realm
        self.validate = validate
    }

    /// Accepts exactly one user name and password (compared in constant time).
    public init(username: String, password: String, realm: String = "restricted") {
        self.init(realm: realm) { user, pass in
            // both compared whatever the first gives: no early exit to time
            let userOK = constantTimeEquals(Array(user.utf8), Array(username.utf8))
            let passwordOK = constantTimeEquals(Array(pass.utf8), Array(password.utf8))
            return userOK && passwordOK
        }
    }

    private func check(_ c: Context) throws {
        guard let field = c.headerBytes("Authorization"), field.count > 6,
            field.prefix(6).map(asciiLower) == Array("basic ".utf8),
            let decoded = base64Decode(field.dropFirst(6)),
            let colon = decoded.firstIndex(of: UInt8(ascii: ":"))
        else {
            throw unauthorized()
        }
        let user = String(decoding: decoded[..<colon], as: UTF8.self)
        let password = String(decoding: decoded[(colon + 1)...], as: UTF8.self)
        guard validate(user, password) else { throw unauthorized() }
        c[BasicAuthUser.self] = user
    }

    private func unauthorized() -> HTTPError {
        HTTPError(.unauthorized, "authentication required", headers: [("WWW-Authenticate", "Basic realm=\"\(realm)\", charset=\"UTF-8\"")])
    }

    public func handle(_ c: Context, next: Next) throws {
        try check(c)
        try next()
    }

    public func handle(_ c: Context, next: AsyncNext) async throws {
        try check(c)
        try await next()
    }
}

/// The user ``BasicAuth`` let in.
public enum BasicAuthUser: ContextKey {
    public typealias Value = String
}

extension Context {
    /// The user name ``BasicAuth`` accepted, or nil.
    public var user: String? { self[BasicAuthUser.self] }
}

/// Equal contents, in time that depends only on the lengths.
func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(a.count == b.count ? 0 : 1)
    for i in 0..<max(a.count, b.count) {
        difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
    }
    return difference == 0
}

/// Standard base64 (RFC 4648, padding optional); nil for anything else.
func base64Decode(_ text: ByteView) -> [UInt8]? {
    var out: [UInt8] = []
    out.reserveCapacity(text.count * 3 / 4)
    var accumulator: UInt32 = 0
    var bits = 0
    var padding = 0
    for byte in text {
        let value: UInt32
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(byte - UInt8(ascii: "A"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(byte - UInt8(ascii: "a") + 26)
        case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(byte - UInt8(ascii: "0") + 52)
        case UInt8(ascii: "+"): value = 62
        case UInt8(ascii: "/"): value = 63
        case UInt8(ascii: "="):
            padding += 1
            continue
        default: return nil
        }
        if padding > 0 { return nil }  // data after padding
        accumulator = accumulator << 6 | value
        bits += 6
        if bits >= 8 {
            bits -= 8
            out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
        }
    }
    guard padding <= 2, (text.count - padding) % 4 != 1 else { return nil }
    return out
}
