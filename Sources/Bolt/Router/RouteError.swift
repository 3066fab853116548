/// Why a route could not be registered: an invalid pattern, a method the router cannot key on, or a conflict
/// with a route already registered. The message names the pattern (and, for a conflict, both routes).
public struct RouteError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The kind of mistake.
    public enum Kind: Sendable {
        /// The pattern is malformed (see ``RouterBuilder/add(_:_:value:)`` for the syntax).
        case invalidPattern
        /// The method cannot be routed on its own (``HTTPMethod/other``).
        case unsupportedMethod
        /// The route is registered already, or clashes with one that is.
        case conflict
    }

    /// The kind of mistake.
    public let kind: Kind
    /// What went wrong and how to fix it, naming the routes involved.
    public let message: String

    /// The ``message``.
    public var description: String { message }

    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
