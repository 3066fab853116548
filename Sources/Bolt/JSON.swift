internal import FoundationEssentials

/// Encodes `Encodable` values as JSON straight into a byte buffer that stays with the pooled ``Context``, with
/// no intermediate tree, `Data` or `String`.
///
/// The buffer grows through tiers of 512 B, 2 KiB, 8 KiB and 64 KiB (then doubles); a buffer above 8 KiB is
/// given back once its response is written, so a rare large reply does not pin memory in every context.
///
/// Output matches `JSONEncoder`'s defaults for plain data (numbers, strings, booleans, arrays, nested structs and
/// dictionaries with `String` or `Int` keys; `nil` optionals omitted by `encodeIfPresent`, written as `null`
/// when encoded explicitly), with no whitespace and with keys in the order the type encodes them. It differs for
/// the types `JSONEncoder` special-cases: `Date` is its `Double` (seconds since 2001, as `.deferredToDate`),
/// `Data` an array of bytes, `URL` its keyed form. Non-finite floating-point values throw.
struct JSONWriter {
    private var storage: UnsafeMutablePointer<UInt8>?
    private var capacity = 0
    private var encoder: StreamingJSONEncoder?

    static let tiers = [512, 2048, 8192, 65536]
    static let keptCapacity = 8192

    /// Encodes `value`, replacing the buffer's contents.
    mutating func encode<T: Encodable>(_ value: T) throws {
        if storage == nil {
            storage = .allocate(capacity: Self.tiers[0])
            capacity = Self.tiers[0]
        }
        let encoder = self.encoder ?? StreamingJSONEncoder()
        self.encoder = encoder
        encoder.reset(storage.unsafelyUnwrapped, capacity)
        defer {
            // the encoder may have grown the buffer
            storage = encoder.bytes
            capacity = encoder.capacity
        }
        try encoder.encodeValue(value)
    }

    /// Frees the buffer (the context is going away).
    mutating func release() {
        storage?.deallocate()
        storage = nil
        capacity = 0
    }

    /// Calls `body` with the encoded bytes, then shrinks a large buffer back.
    mutating func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let count = encoder?.count ?? 0
        defer {
            if capacity > Self.keptCapacity {
                storage?.deallocate()
                storage = .allocate(capacity: Self.keptCapacity)
                capacity = Self.keptCapacity
            }
        }
        return try body(UnsafeRawBufferPointer(start: storage, count: count))
    }
}

/// The encoder behind ``JSONWriter``: one instance per context, reused; values stream out as they are encoded.
///
/// Containers have no "end" call in `Encodable`, so the encoder keeps a stack of open containers and closes
/// those deeper than the one being written to, and closes a value's containers when its `encode(to:)` returns.
final class StreamingJSONEncoder: Encoder {
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    private(set) var bytes: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    private(set) var count = 0
    /// The closing byte of each open container, and whether it has an element yet.
    private var closers: [UInt8] = []
    private var hasElement: [Bool] = []
    /// The depth at which the value being encoded started.
    private var valueDepth = 0

    init() {
        bytes = .allocate(capacity: 1)
        capacity = 1
        closers.reserveCapacity(16)
        hasElement.reserveCapacity(16)
    }

    func reset(_ buffer: UnsafeMutablePointer<UInt8>, _ capacity: Int) {
        if bytes != buffer && self.capacity == 1 { bytes.deallocate() }
        bytes = buffer
        self.capacity = capacity
        count = 0
        closers.removeAll(keepingCapacity: true)
        hasElement.removeAll(keepingCapacity: true)
        valueDepth = 0
    }

    // MARK: bytes

    @inline(__always) private func reserve(_ n: Int) {
        if count + n > capacity { grow(count + n) }
    }

    private func grow(_ need: Int) {
        var next = JSONWriter.tiers.first { $0 >= need } ?? capacity * 2
        while next < need { next *= 2 }
        let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: next)
        fresh.update(from: bytes, count: count)
        bytes.deallocate()
        bytes = fresh
        capacity = next
    }

    @inline(__always) func write(_ byte: UInt8) {
        reserve(1)
        bytes[count] = byte
        count += 1
    }

    func write(_ literal: StaticString) {
        let n = literal.utf8CodeUnitCount
        reserve(n)
        (bytes + count).update(from: literal.utf8Start, count: n)
        count += n
    }

    func writeString(_ string: String) {
        var string = string
        string.withUTF8 { writeEscaped($0) }
    }

    private static let hex: StaticString = "0123456789abcdef"

    func writeEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        reserve(utf8.count + 2)
        bytes[count] = UInt8(ascii: "\"")
        count += 1
        var run = 0  // start of bytes not yet copied
        for i in 0..<utf8.count {
            let byte = utf8[i]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            copy(utf8, run, i)
            run = i + 1
            switch byte {
            case UInt8(ascii: "\""): write("\\\"")
            case UInt8(ascii: "\\"): write("\\\\")
            case 0x0A: write("\\n")
            case 0x0D: write("\\r")
            case 0x09: write("\\t")
            case 0x08: write("\\b")
            case 0x0C: write("\\f")
            default:
                write("\\u00")
                write(Self.hex.utf8Start[Int(byte >> 4)])
                write(Self.hex.utf8Start[Int(byte & 0xF)])
            }
        }
        copy(utf8, run, utf8.count)
        write(UInt8(ascii: "\""))
    }

    @inline(__always) private func copy(_ utf8: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) {
        guard to > from else { return }
        reserve(to - from + 1)
        (bytes + count).update(from: utf8.baseAddress! + from, count: to - from)
        count += to - from
    }

    func writeInteger<T: FixedWidthInteger>(_ value: T) {
        reserve(40)
        if value == 0 {
            bytes[count] = UInt8(ascii: "0")
            count += 1
            return
        }
        var magnitude = value.magnitude
        if value < 0 {
            bytes[count] = UInt8(ascii: "-")
            count += 1
        }
        var digits = 0
        var probe = magnitude
        while probe > 0 {
            digits += 1
            probe /= 10
        }
        var at = count + digits - 1
        while magnitude > 0 {
            bytes[at] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10)
            magnitude /= 10
            at -= 1
        }
        count += digits
    }

    func writeFloat<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: T) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "JSON has no \(value)"))
        }
        if value == value.rounded(.towardZero) && abs(value) < 1e15 {
            writeInteger(Int64(value))  // 3.0 -> 3, as JSONEncoder writes it
            return
        }
        var text = value.description
        text.withUTF8 { utf8 in
            reserve(utf8.count)
            (bytes + count).update(from: utf8.baseAddress!, count: utf8.count)
            count += utf8.count
        }
    }

    // MARK: structure

    /// Closes the containers deeper than `depth`.
    @inline(__always) func close(to depth: Int) {
        while closers.count > depth {
            write(closers.removeLast())
            hasElement.removeLast()
        }
    }

    /// Before an element of the container at `depth` (1-based): closes deeper ones, writes the separator.
    @inline(__always) func beginElement(at depth: Int) {
        close(to: depth)
        if hasElement[depth - 1] { write(UInt8(ascii: ",")) } else { hasElement[depth - 1] = true }
    }

    /// The depth of the innermost open container.
    var openDepth: Int { closers.count }

    /// Records a container just opened (its opening byte is written).
    func pushContainer(_ closer: UInt8) {
        closers.append(closer)
        hasElement.append(false)
    }

    /// Opens a container for the current value (once: a second request returns the same one).
    private func open(_ opener: UInt8, _ closer: UInt8) -> Int {
        if closers.count > valueDepth {
            close(to: valueDepth + 1)
            return valueDepth + 1
        }
        write(opener)
        closers.append(closer)
        hasElement.append(false)
        return closers.count
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedJSONContainer<Key>(encoder: self, depth: open(UInt8(ascii: "{"), UInt8(ascii: "}"))))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        UnkeyedJSONContainer(encoder: self, depth: open(UInt8(ascii: "["), UInt8(ascii: "]")))
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleJSONContainer(encoder: self)
    }

    /// Encodes one value in the slot the caller prepared (after a key, or as an array element, or the root).
    func encodeValue<T: Encodable>(_ value: T) throws {
        let saved = valueDepth
        valueDepth = closers.count
        let start = count
        try value.encode(to: self)
        if count == start && closers.count == valueDepth {
            write("{}")  // encoded nothing: an empty object, as JSONEncoder writes
        }
        close(to: valueDepth)
        valueDepth = saved
    }

    func writeKey(_ key: some CodingKey, at depth: Int) {
        beginElement(at: depth)
        writeString(key.stringValue)
        write(UInt8(ascii: ":"))
    }
}

struct KeyedJSONContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    unowned let encoder: StreamingJSONEncoder
    let depth: Int
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil(forKey key: Key) throws {
        encoder.writeKey(key, at: depth)
        encoder.write("null")
    }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        encoder.writeKey(key, at: depth)
        encoder.write(value ? "true" : "false")
    }
    mutating func encode(_ value: String, forKey key: Key) throws {
        encoder.writeKey(key, at: depth)
        encoder.writeString(value)
    }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        encoder.writeKey(key, at: depth)
        try encoder.writeFloat(value)
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        encoder.writeKey(key, at: depth)
        try encoder.writeFloat(value)
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { writeInt(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { writeInt(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { writeInt(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { writeInt(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { writeInt(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { writeInt(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { writeInt(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { writeInt(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { writeInt(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { writeInt(value, key) }

    private func writeInt<T: FixedWidthInteger>(_ value: T, _ key: Key) {
        encoder.writeKey(key, at: depth)
        encoder.writeInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        encoder.writeKey(key, at: depth)
        try encoder.encodeValue(value)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        encoder.writeKey(key, at: depth)
        return encoder.nestedKeyed(keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        encoder.writeKey(key, at: depth)
        return encoder.nestedUnkeyed()
    }

    mutating func superEncoder() -> any Encoder {
        encoder.writeKey(JSONKey("super"), at: depth)
        return encoder.slotEncoder()
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        encoder.writeKey(key, at: depth)
        return encoder.slotEncoder()
    }
}

struct UnkeyedJSONContainer: UnkeyedEncodingContainer {
    unowned let encoder: StreamingJSONEncoder
    let depth: Int
    private(set) var count = 0
    var codingPath: [any CodingKey] { [] }

    init(encoder: StreamingJSONEncoder, depth: Int) {
        self.encoder = encoder
        self.depth = depth
    }

    private mutating func element() {
        encoder.beginElement(at: depth)
        count += 1
    }

    mutating func encodeNil() throws {
        element()
        encoder.write("null")
    }
    mutating func encode(_ value: Bool) throws {
        element()
        encoder.write(value ? "true" : "false")
    }
    mutating func encode(_ value: String) throws {
        element()
        encoder.writeString(value)
    }
    mutating func encode(_ value: Double) throws {
        element()
        try encoder.writeFloat(value)
    }
    mutating func encode(_ value: Float) throws {
        element()
        try encoder.writeFloat(value)
    }
    mutating func encode(_ value: Int) throws { writeInt(value) }
    mutating func encode(_ value: Int8) throws { writeInt(value) }
    mutating func encode(_ value: Int16) throws { writeInt(value) }
    mutating func encode(_ value: Int32) throws { writeInt(value) }
    mutating func encode(_ value: Int64) throws { writeInt(value) }
    mutating func encode(_ value: UInt) throws { writeInt(value) }
    mutating func encode(_ value: UInt8) throws { writeInt(value) }
    mutating func encode(_ value: UInt16) throws { writeInt(value) }
    mutating func encode(_ value: UInt32) throws { writeInt(value) }
    mutating func encode(_ value: UInt64) throws { writeInt(value) }

    private mutating func writeInt<T: FixedWidthInteger>(_ value: T) {
        element()
        encoder.writeInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        element()
        try encoder.encodeValue(value)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<NestedKey>
    {
        element()
        return encoder.nestedKeyed(keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        element()
        return encoder.nestedUnkeyed()
    }

    mutating func superEncoder() -> any Encoder {
        element()
        return encoder.slotEncoder()
    }
}

struct SingleJSONContainer: SingleValueEncodingContainer {
    unowned let encoder: StreamingJSONEncoder
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil() throws { encoder.write("null") }
    mutating func encode(_ value: Bool) throws { encoder.write(value ? "true" : "false") }
    mutating func encode(_ value: String) throws { encoder.writeString(value) }
    mutating func encode(_ value: Double) throws { try encoder.writeFloat(value) }
    mutating func encode(_ value: Float) throws { try encoder.writeFloat(value) }
    mutating func encode(_ value: Int) throws { encoder.writeInteger(value) }
    mutating func encode(_ value: Int8) throws { encoder.writeInteger(value) }
    mutating func encode(_ value: Int16) throws { encoder.writeInteger(value) }
    mutating func encode(_ value: Int32) throws { encoder.writeInteger(value) }
    mutating func encode(_ value: Int64) throws { encoder.writeInteger(value) }
    mutating func encode(_ value: UInt) throws { encoder.writeInteger(value) }
    mutating func encode(_ value: UInt8) throws { encoder.writeInteger(value) }
    mutating func encode(_ value: UInt16) throws { encoder.writeInteger(value) }
    mutating func encode(_ value: UInt32) throws { encoder.writeInteger(value) }
    mutating func encode(_ value: UInt64) throws { encoder.writeInteger(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try encoder.encodeValue(value) }
}

extension StreamingJSONEncoder {
    /// A keyed container opened in the slot just prepared (after a key or an array separator).
    func nestedKeyed<NestedKey: CodingKey>(_ type: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        write(UInt8(ascii: "{"))
        pushContainer(UInt8(ascii: "}"))
        return KeyedEncodingContainer(KeyedJSONContainer<NestedKey>(encoder: self, depth: openDepth))
    }

    func nestedUnkeyed() -> any UnkeyedEncodingContainer {
        write(UInt8(ascii: "["))
        pushContainer(UInt8(ascii: "]"))
        return UnkeyedJSONContainer(encoder: self, depth: openDepth)
    }

    /// An encoder for the slot just prepared (superEncoder): the value written through it fills the slot.
    func slotEncoder() -> any Encoder {
        SlotEncoder(encoder: self)
    }
}

/// The encoder handed out by `superEncoder()`: the next container it opens fills the prepared slot.
private struct SlotEncoder: Encoder {
    unowned let encoder: StreamingJSONEncoder
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> { encoder.nestedKeyed(type) }
    func unkeyedContainer() -> any UnkeyedEncodingContainer { encoder.nestedUnkeyed() }
    func singleValueContainer() -> any SingleValueEncodingContainer { SingleJSONContainer(encoder: encoder) }
}

/// A coding key made of a string.
struct JSONKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

/// Decoding request bodies: FoundationEssentials' `JSONDecoder` (the smaller Foundation), straight from the body's
/// bytes.
enum JSONBody {
    static func decode<T: Decodable>(_ type: T.Type, from body: ByteView) throws -> T {
        let data = body.withUnsafeBytes { Data($0) }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw HTTPError(.badRequest, "invalid JSON body: \(describe(error))")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.isEmpty ? "" : " at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        }
        switch error {
        case .typeMismatch(_, let context): return "wrong type\(path(context)): \(context.debugDescription)"
        case .valueNotFound(_, let context): return "missing value\(path(context))"
        case .keyNotFound(let key, let context): return "missing key '\(key.stringValue)'\(path(context))"
        case .dataCorrupted(let context): return "malformed\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
