internal import CShockwave

/// An HTTP message that Shockwave refused to parse, with the status a server answers it with.
///
/// Every violation of RFC 9112/9110 that the parser detects has its own ``code``; ``status`` is the
/// response it maps to (400, 413, 414, 417, 431, 501, 505) and ``message`` a sentence a user can act on.
/// Values are plain data: `Sendable`, safe to keep and log.
public struct HTTPParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The C core's negative `SW_E_*` code.
    public let code: Int32

    /// Wraps a C error code; `nil` for codes that are not errors (`0` or more, or "incomplete").
    public init?(code: Int32) {
        guard code < -1 else { return nil }
        self.code = code
    }

    /// The HTTP status a server replies with (for example 400, 414 or 431).
    public var status: Int { Int(sw_error_status(code)) }

    /// A stable, upper-case identifier such as `BARE_CR`, suitable for metrics labels.
    public var name: String { String(cString: sw_error_name(code)) }

    /// A sentence describing what was wrong with the message.
    public var message: String { String(cString: sw_error_message(code)) }

    public var description: String { "\(status) \(name): \(message)" }
}

/// Facts about the C core this build runs on.
public enum Engine {
    /// The SIMD scanner the parser uses on this machine: `"avx2"`, `"sse42"` or `"scalar"`.
    ///
    /// Chosen once per process from the CPU, or from the `SHOCKWAVE_SIMD` environment variable.
    public static var simdLevel: String { String(cString: sw_simd_name(sw_simd_active())) }
}
