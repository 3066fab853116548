/// The parameters (`:name`) and wildcard (`*name`) of the route a request matched, filled by
/// ``Router/lookup(_:path:into:)``.
///
/// Values are views into the request's path, still percent-encoded as sent: ``subscript(_:)-(StaticString)``
/// reads one without a copy, ``string(_:)-(StaticString)`` decodes it into a `String` on request (see
/// ``ByteView/percentDecodedString`` for the rule). Up to eight parameters are stored inline; more
/// spill into an array that is allocated once and kept for reuse, so a lookup never fails for their number.
///
/// A `PathParameters` borrows the request's path and the router's name table: it is **valid until the handler
/// returns**; copy what you keep. It belongs to one request on one thread and is not `Sendable`.
public struct PathParameters {
    /// One parameter: its name in the router's name table and its value's byte range in the path.
    @usableFromInline struct Entry {
        @usableFromInline var nameID: UInt32
        @usableFromInline var start: UInt32
        @usableFromInline var end: UInt32
    }

    /// A parameter name's bytes, owned by the router.
    @usableFromInline struct Name {
        @usableFromInline let bytes: UnsafePointer<UInt8>
        @usableFromInline let count: Int
    }

    @usableFromInline static var inlineCapacity: Int { 8 }

    @usableFromInline var inline = InlineArray<8, Entry>(repeating: Entry(nameID: 0, start: 0, end: 0))
    /// Entries from the ninth on; keeps its capacity across lookups.
    @usableFromInline var spill: [Entry] = []
    @usableFromInline var path = ByteView()
    @usableFromInline var names: UnsafePointer<Name>?

    /// The number of parameters.
    public internal(set) var count = 0

    /// No parameters; pass it to ``Router/lookup(_:path:into:)`` (and reuse it across requests).
    public init() {}

    /// Empties the parameters for a lookup of `path` with the router's `names`.
    @inline(__always)
    mutating func reset(path: ByteView, names: UnsafePointer<Name>) {
        self.path = path
        self.names = names
        count = 0
    }

    @inline(__always)
    mutating func append(_ nameID: UInt32, _ start: Int, _ end: Int) {
        let entry = Entry(nameID: nameID, start: UInt32(truncatingIfNeeded: start), end: UInt32(truncatingIfNeeded: end))
        if count < Self.inlineCapacity {
            inline[count] = entry
        } else if count - Self.inlineCapacity < spill.count {
            spill[count - Self.inlineCapacity] = entry
        } else {
            spill.append(entry)
        }
        count &+= 1
    }

    @inlinable func entry(_ index: Int) -> Entry {
        precondition(index >= 0 && index < count, "PathParameters index out of range")
        return index < Self.inlineCapacity ? inline[index] : spill[index - Self.inlineCapacity]
    }

    /// The raw (still percent-encoded) value of the parameter at `index`, in route order; valid until the
    /// handler returns.
    @inlinable public func value(at index: Int) -> ByteView {
        let entry = entry(index)
        return path[(path.startIndex + Int(entry.start))..<(path.startIndex + Int(entry.end))]
    }

    /// The name of the parameter at `index`, in route order (without `:` or `*`).
    public func name(at index: Int) -> String {
        let name = names.unsafelyUnwrapped[Int(entry(index).nameID)]
        return String(decoding: UnsafeBufferPointer(start: name.bytes, count: name.count), as: UTF8.self)
    }

    /// The index of the parameter whose name has the bytes `key`, or `nil`.
    @inlinable func index(of key: UnsafeBufferPointer<UInt8>) -> Int? {
        for index in 0..<count {
            let name = names.unsafelyUnwrapped[Int(entry(index).nameID)]
            if name.count == key.count && (key.isEmpty || bytesEqual(name.bytes, key.baseAddress!, key.count)) {
                return index
            }
        }
        return nil
    }

    /// The raw (still percent-encoded) value of the parameter called `name` (without `:` or `*`), or `nil` when
    /// the route has none; valid until the handler returns. A wildcard's value has no leading `/`.
    @inlinable public subscript(name: StaticString) -> ByteView? {
        name.withUTF8Buffer { index(of: $0) }.map(value(at:))
    }

    /// The raw (still percent-encoded) value of the parameter called `name`, or `nil`; valid until the handler
    /// returns.
    @inlinable public subscript(name: String) -> ByteView? {
        var name = name
        return name.withUTF8 { index(of: $0) }.map(value(at:))
    }

    /// The value of the parameter called `name`, percent-decoded into a new `String`, or `nil` when the route has
    /// no such parameter.
    @inlinable public func string(_ name: StaticString) -> String? { self[name]?.percentDecodedString }

    /// The value of the parameter called `name`, percent-decoded into a new `String`, or `nil`.
    @inlinable public func string(_ name: String) -> String? { self[name]?.percentDecodedString }
}
