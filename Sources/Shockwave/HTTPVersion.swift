/// The HTTP version of a request: 1.0 or 1.1 (the parser reports 1.2 to 1.9 as 1.1 and answers HTTP/2 and
/// later prior-knowledge requests on this port with 505).
public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    /// 1.
    public var major: Int
    /// 0 or 1.
    public var minor: Int

    /// A version from its two digits.
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// HTTP/1.0: the connection closes after the response unless the request asks for `keep-alive`.
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    /// HTTP/1.1: the connection persists unless either side sends `Connection: close`.
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)

    /// `"HTTP/1.1"`.
    public var description: String { "HTTP/\(major).\(minor)" }
}
