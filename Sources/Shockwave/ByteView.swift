/// Bytes of a request — a path, a header value, the body — viewed where the server received them.
///
/// A `ByteView` borrows the connection's read buffer: it is **valid until the handler returns** (for an
/// async handler, until its response is complete); copy what you keep (``string``, `Array(view)`). Reading
/// one costs nothing: no copy, no allocation, no reference counting. It is deliberately not `Sendable`.
///
/// It is a random-access collection of `UInt8` whose slices are `ByteView`s with the same indices, and it
/// compares with string literals byte by byte without building a `String`:
///
/// ```swift
/// if request.path == "/plaintext" { ... }
/// if request.path.hasPrefix("/user/") { let id = request.path.dropFirst(6) ... }
/// ```
public struct ByteView: RandomAccessCollection, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public typealias Element = UInt8
    public typealias Index = Int
    public typealias SubSequence = ByteView
    public typealias Indices = Range<Int>

    /// The address of index 0 (the first byte of the unsliced view); `nil` only for an empty view.
    @usableFromInline let base: UnsafePointer<UInt8>?
    /// The index of the first byte (0 unless this view is a slice of another).
    public let startIndex: Int
    /// One past the index of the last byte.
    public let endIndex: Int

    @inlinable init(base: UnsafePointer<UInt8>?, startIndex: Int, endIndex: Int) {
        self.base = base
        self.startIndex = startIndex
        self.endIndex = endIndex
    }

    @inlinable init(start: UnsafePointer<UInt8>?, count: Int) {
        self.init(base: count > 0 ? start : nil, startIndex: 0, endIndex: count > 0 ? count : 0)
    }

    /// An empty view.
    @inlinable public init() { self.init(base: nil, startIndex: 0, endIndex: 0) }

    /// A view of memory the caller owns, for tests and adapters; the caller keeps it alive and unchanged
    /// while the view is used.
    @inlinable public init(unsafeBytes: UnsafeRawBufferPointer) {
        self.init(start: unsafeBytes.baseAddress?.assumingMemoryBound(to: UInt8.self), count: unsafeBytes.count)
    }

    @inlinable public var count: Int { endIndex - startIndex }
    @inlinable public var isEmpty: Bool { endIndex == startIndex }
    @inlinable public var indices: Range<Int> { startIndex..<endIndex }

    @inlinable public func index(after i: Int) -> Int { i + 1 }
    @inlinable public func index(before i: Int) -> Int { i - 1 }
    @inlinable public func index(_ i: Int, offsetBy distance: Int) -> Int { i + distance }
    @inlinable public func distance(from start: Int, to end: Int) -> Int { end - start }

    /// The byte at `position`, which must be in `startIndex..<endIndex`.
    @inlinable public subscript(position: Int) -> UInt8 {
        precondition(position >= startIndex && position < endIndex, "ByteView index out of range")
        return base.unsafelyUnwrapped[position]
    }

    /// A view of some of the bytes, with the same indices (and the same lifetime).
    @inlinable public subscript(bounds: Range<Int>) -> ByteView {
        precondition(bounds.lowerBound >= startIndex && bounds.upperBound <= endIndex, "ByteView range out of bounds")
        return ByteView(base: base, startIndex: bounds.lowerBound, endIndex: bounds.upperBound)
    }

    /// The bytes as a raw buffer, for C APIs and bulk copies; the pointer must not escape `body`.
    @inlinable public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base.map { $0 + startIndex }, count: count))
    }

    /// The bytes as a `Span`, the safe borrowed view of the standard library.
    @inlinable public func withSpan<R, E: Error>(_ body: (Span<UInt8>) throws(E) -> R) throws(E) -> R {
        let buffer = UnsafeBufferPointer(start: base.map { $0 + startIndex }, count: count)
        return try body(Span(_unsafeElements: buffer))
    }

    @inlinable public func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R)
        rethrows -> R?
    {
        try body(UnsafeBufferPointer(start: base.map { $0 + startIndex }, count: count))
    }

    /// The bytes decoded as UTF-8 into a new `String` (invalid sequences become U+FFFD). Allocates when longer
    /// than 15 bytes; call it for what you keep or print.
    public var string: String {
        withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Same as ``string``.
    public var description: String { string }

    public var debugDescription: String { "ByteView(\(string.debugDescription))" }

    /// Whether the bytes equal `other`'s UTF-8 bytes exactly.
    @inlinable public func equals(_ other: StaticString) -> Bool {
        other.withUTF8Buffer { utf8 in
            utf8.count == count && (count == 0 || memeq(base.unsafelyUnwrapped + startIndex, utf8.baseAddress!, count))
        }
    }

    /// Whether the bytes start with `prefix`'s UTF-8 bytes.
    @inlinable public func hasPrefix(_ prefix: StaticString) -> Bool {
        prefix.withUTF8Buffer { utf8 in
            utf8.count <= count && (utf8.count == 0 || memeq(base.unsafelyUnwrapped + startIndex, utf8.baseAddress!, utf8.count))
        }
    }

    /// Whether the bytes equal `other`'s, ignoring ASCII case (for header names and tokens).
    @inlinable public func equalsIgnoringCase(_ other: ByteView) -> Bool {
        guard count == other.count else { return false }
        for i in 0..<count where !asciiEqualIgnoringCase(self[startIndex + i], other[other.startIndex + i]) {
            return false
        }
        return true
    }

    /// The bytes as an unsigned decimal number, or `nil` when they are empty, hold anything but digits or
    /// overflow `Int`. For path parameters such as `/user/42`.
    @inlinable public var decimalInteger: Int? {
        guard !isEmpty else { return nil }
        var value = 0
        for byte in self {
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(byte &- 0x30))
            if o1 || o2 { return nil }
            value = sum
        }
        return value
    }

    /// Byte-wise equality of two views.
    @inlinable public static func == (lhs: ByteView, rhs: ByteView) -> Bool {
        lhs.count == rhs.count
            && (lhs.count == 0
                || memeq(lhs.base.unsafelyUnwrapped + lhs.startIndex, rhs.base.unsafelyUnwrapped + rhs.startIndex, lhs.count))
    }

    /// Byte-wise equality with a string literal: `request.path == "/json"`.
    @inlinable public static func == (lhs: ByteView, rhs: StaticString) -> Bool { lhs.equals(rhs) }

    @inlinable public static func != (lhs: ByteView, rhs: StaticString) -> Bool { !lhs.equals(rhs) }

    /// Whether the bytes equal `string`'s UTF-8 bytes exactly (no allocation for native strings). Literals
    /// compare faster with `==`, which takes a `StaticString`.
    public func equals(_ string: String) -> Bool {
        var string = string
        return string.withUTF8 { utf8 in
            withUnsafeBytes { mine in
                utf8.count == mine.count && (mine.isEmpty || memeq(mine.baseAddress!, utf8.baseAddress!, mine.count))
            }
        }
    }
}

@inlinable @inline(__always)
func memeq(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Bool {
    // A byte loop the optimizer vectorizes; short strings (paths, names) dominate, where a libc call costs more.
    var i = 0
    while i &+ 8 <= n {
        if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
            return false
        }
        i &+= 8
    }
    while i < n {
        if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
        i &+= 1
    }
    return true
}

@inlinable @inline(__always)
func asciiEqualIgnoringCase(_ a: UInt8, _ b: UInt8) -> Bool {
    if a == b { return true }
    let la = a | 0x20
    return la == (b | 0x20) && la >= 0x61 && la <= 0x7A
}
