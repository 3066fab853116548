/// The `Content-Type` values Shockwave writes from a precompiled table: one copy of a ready-made header
/// line, no formatting. For any other media type, call ``ResponseWriter/header(name:value:)`` with
/// `"Content-Type"`.
public enum ContentType: UInt8, Sendable, Hashable, CaseIterable {
    /// `text/plain; charset=utf-8`
    case plainText = 1
    /// `text/html; charset=utf-8`
    case html = 2
    /// `application/json`
    case json = 3
    /// `application/octet-stream`
    case octetStream = 4
    /// `application/x-www-form-urlencoded`
    case form = 5
}
