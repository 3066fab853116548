/// The header fields of a ``Request``, viewed in place: valid until the handler returns, like every
/// ``ByteView``.
///
/// Lookups compare names case-insensitively, byte by byte, without building strings:
///
/// ```swift
/// if let agent = request.headers["User-Agent"] { ... }
/// for field in request.headers { print(field.name, field.value) }
/// ```
public struct RequestHeaders: RandomAccessCollection {
    /// One field line: the name as sent (case preserved) and the value without surrounding whitespace.
    public struct Field {
        /// The field name as sent; compare with ``ByteView/equalsIgnoringCase(_:)``.
        public let name: ByteView
        /// The value, without leading and trailing spaces and tabs.
        public let value: ByteView

        @inlinable init(name: ByteView, value: ByteView) {
            self.name = name
            self.value = value
        }
    }

    @usableFromInline let buffer: UnsafePointer<UInt8>
    @usableFromInline let table: UnsafeRawPointer?
    public let count: Int

    @inlinable init(buffer: UnsafePointer<UInt8>, table: UnsafeRawPointer?, count: Int) {
        self.buffer = buffer
        self.table = table
        self.count = count
    }

    @inlinable public var startIndex: Int { 0 }
    @inlinable public var endIndex: Int { count }

    @inlinable func word(_ i: Int, _ k: Int) -> Int {
        Int(table.unsafelyUnwrapped.load(fromByteOffset: i &* 16 &+ k &* 4, as: UInt32.self))
    }

    @inlinable func name(at i: Int) -> ByteView { ByteView(start: buffer + word(i, 0), count: word(i, 1)) }

    @inlinable func value(at i: Int) -> ByteView { ByteView(start: buffer + word(i, 2), count: word(i, 3)) }

    /// The field at `position` (0 for the first sent).
    @inlinable public subscript(position: Int) -> Field {
        precondition(position >= 0 && position < count, "header index out of range")
        return Field(name: name(at: position), value: value(at: position))
    }

    /// The value of the first field called `name` (any case), or `nil`.
    @inlinable public subscript(_ name: StaticString) -> ByteView? {
        name.withUTF8Buffer { wanted in
            firstIndex(ofName: ByteView(unsafeBytes: UnsafeRawBufferPointer(wanted))).map { value(at: $0) }
        }
    }

    /// The value of the first field called `name` (any case), or `nil`.
    @inlinable public subscript(_ name: ByteView) -> ByteView? {
        firstIndex(ofName: name).map { value(at: $0) }
    }

    /// The value of the first field called `name` (any case), or `nil`. For names known in advance, the
    /// `StaticString` subscript (`headers["Accept"]`) is a little faster.
    public func first(named name: String) -> ByteView? {
        var name = name
        return name.withUTF8 { self[ByteView(unsafeBytes: UnsafeRawBufferPointer($0))] }
    }

    /// Whether a field called `name` (any case) is present.
    @inlinable public func contains(_ name: StaticString) -> Bool { self[name] != nil }

    @inlinable func firstIndex(ofName wanted: ByteView) -> Int? {
        var i = 0
        while i < count {
            if word(i, 1) == wanted.count && name(at: i).equalsIgnoringCase(wanted) { return i }
            i &+= 1
        }
        return nil
    }
}
