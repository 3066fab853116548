@_exported import Shockwave

/// Bolt, the web framework on Shockwave: router, pooled request context, middleware and JSON.
///
/// Start with ``App``; handlers get a ``Context``; ``Middleware`` wraps routes; ``HTTPError`` turns into a
/// response. `import Bolt` brings Shockwave's types (``ServerConfiguration``, ``HTTPStatus``) along.
public enum Bolt {
    /// The engine Bolt runs on, for diagnostics (`"shockwave/avx2"`).
    public static var engineDescription: String { "shockwave/\(Engine.simdLevel)" }
}
