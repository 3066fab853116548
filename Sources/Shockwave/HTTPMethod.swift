/// A request method, decoded by the parser.
///
/// The nine methods of RFC 9110 and RFC 5789 have their own case; any other valid token is ``other``, and
/// ``Request/methodBytes`` holds its bytes. Matching on a case costs one byte compare.
public enum HTTPMethod: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// A valid method token that is none of the cases below (for example `PROPFIND`).
    case other = 0
    case get = 1
    case head = 2
    case post = 3
    case put = 4
    case delete = 5
    case connect = 6
    case options = 7
    case trace = 8
    case patch = 9

    /// The method's name as sent on the wire (`"GET"`); `"OTHER"` for ``other``.
    public var description: String {
        switch self {
        case .other: "OTHER"
        case .get: "GET"
        case .head: "HEAD"
        case .post: "POST"
        case .put: "PUT"
        case .delete: "DELETE"
        case .connect: "CONNECT"
        case .options: "OPTIONS"
        case .trace: "TRACE"
        case .patch: "PATCH"
        }
    }
}
