@_exported import Shockwave

/// Bolt, the web framework on Shockwave: router, pooled request context, middleware and JSON.
///
/// The framework's API arrives with the router and context work; this module already re-exports
/// ``Shockwave`` so that `import Bolt` is all an application needs.
public enum Bolt {
    /// The engine Bolt runs on, for diagnostics (`"shockwave/avx2"`).
    public static var engineDescription: String { "shockwave/\(Engine.simdLevel)" }
}
