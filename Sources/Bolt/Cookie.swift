/// A cookie to set (`Set-Cookie`, RFC 6265).
public struct Cookie: Sendable {
    /// How the cookie travels with cross-site requests.
    public enum SameSite: String, Sendable {
        case strict = "Strict"
        case lax = "Lax"
        case none = "None"
    }

    public var name: String
    public var value: String
    public var path: String? = "/"
    public var domain: String? = nil
    /// Lifetime in seconds (`Max-Age`); nil for a session cookie, 0 or less to delete it.
    public var maxAge: Int? = nil
    public var secure = false
    public var httpOnly = true
    public var sameSite: SameSite? = .lax

    /// A cookie `name=value` with the safe defaults: `Path=/`, `HttpOnly`, `SameSite=Lax`.
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// The `Set-Cookie` field value. Characters a cookie value cannot hold (RFC 6265 4.1.1) are percent-encoded.
    public var headerValue: String {
        var text = "\(name)=\(Self.encode(value))"
        if let path { text += "; Path=\(path)" }
        if let domain { text += "; Domain=\(domain)" }
        if let maxAge { text += "; Max-Age=\(maxAge)" }
        if secure || sameSite == SameSite.none { text += "; Secure" }
        if httpOnly { text += "; HttpOnly" }
        if let sameSite { text += "; SameSite=\(sameSite.rawValue)" }
        return text
    }

    static func encode(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            // cookie-octet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
            let ok = byte == 0x21 || (0x23...0x2B).contains(byte) || (0x2D...0x3A).contains(byte)
                || (0x3C...0x5B).contains(byte) || (0x5D...0x7E).contains(byte)
            if ok && byte != UInt8(ascii: "%") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = Array("0123456789ABCDEF".utf8)
                out += "%" + String(decoding: [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]], as: UTF8.self)
            }
        }
        return out
    }
}

/// Media types by file extension, for ``Context/file(_:mediaType:)`` and ``Static``.
public enum MediaTypes {
    /// The media type for a path's extension; `application/octet-stream` when unknown.
    public static func forPath(_ path: String) -> String {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return "application/octet-stream" }
        switch path[path.index(after: dot)...].lowercased() {
        case "html", "htm": return "text/html; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "json": return "application/json"
        case "txt": return "text/plain; charset=utf-8"
        case "md": return "text/markdown; charset=utf-8"
        case "xml": return "application/xml"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "webp": return "image/webp"
        case "ico": return "image/x-icon"
        case "avif": return "image/avif"
        case "woff": return "font/woff"
        case "woff2": return "font/woff2"
        case "ttf": return "font/ttf"
        case "pdf": return "application/pdf"
        case "wasm": return "application/wasm"
        case "mp4": return "video/mp4"
        case "webm": return "video/webm"
        case "mp3": return "audio/mpeg"
        case "zip": return "application/zip"
        case "gz": return "application/gzip"
        default: return "application/octet-stream"
        }
    }
}
