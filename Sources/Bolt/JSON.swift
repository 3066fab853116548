internal import FoundationEssentials

/// Encodes `Encodable` values as JSON straight into a byte buffer that stays with the pooled ``Context``, with
/// no intermediate tree, `Data` or `String` when the value uses its containers in order (as synthesized and
/// standard-library conformances do).
///
/// The buffer grows through tiers of 512 B, 2 KiB, 8 KiB and 64 KiB (then doubles); a buffer above 8 KiB is
/// given back once its response is written, so a rare large reply does not pin memory in every context.
///
/// The output is the JSON value `JSONEncoder` (default options) produces for the same value, compact, with keys in
/// the order the type first encodes them (JSONEncoder's order is unspecified). That holds for every use of the
/// `Encoder` and container protocols, in any order: a key encoded twice keeps its last value, a nested container
/// asked for twice for one key is one container, `superEncoder` fills its slot when its encoder is released,
/// a value that encodes nothing is `{}` (and throws at the top level), non-finite numbers throw, and nesting
/// deeper than 511 containers throws. Where JSONEncoder traps (a second kind of container on one encoder, two
/// values through one single-value container, a nested container for a key holding a value of another kind)
/// this throws an `EncodingError` instead. It differs, by design, in:
/// - the types `JSONEncoder` special-cases: `Date` is its `Double` (seconds since 2001, as `.deferredToDate`),
///   `Data` an array of bytes, `URL` and `Decimal` their own `Encodable` forms;
/// - `/` is written as is (JSONEncoder writes `\/`, the same JSON string);
/// - keys are told apart by their UTF-8 bytes (JSONEncoder's dictionary merges canonically equivalent keys such as
///   "é" and "e\u{301}");
/// - `codingPath` is always empty, in errors too;
/// - a container used outside the `encode(to:)` that made it (kept past it, or handed to another value: not a
///   legal use) throws, where JSONEncoder may ignore the write.
///
/// How: values stream out as they are encoded (``StreamingJSONEncoder``). `Encodable` has no "end of container"
/// call, so the stream closes a container when something outside it is written, and it can only write in place
/// what arrives in order. When a value's own `encode(to:)` does something the stream cannot express — writes to
/// a container it has moved past, encodes a key its object already has, or takes a second `superEncoder` from one
/// unkeyed container (JSONEncoder places each where it was made, when it is released) — the encoder rewinds the
/// buffer to where that value began and runs its `encode(to:)` once more, into a tree of references built the
/// way JSONEncoder builds its own (``JSONTreeEncoder``), then writes the tree there. Only that value is redone; its
/// parent keeps streaming. To see a repeated key, each key is hashed into a table of the keys of the objects
/// still open (reused across encodes). The in-order path allocates nothing beyond `KeyedEncodingContainer`'s box
/// (the table grows only while more than 31 keys are open at once, and shrinks back after); the fallback allocates
/// freely, and calls that value's `encode(to:)` twice, so an `encode(to:)` with side effects has them twice when
/// it uses its containers out of order.
struct JSONWriter {
    private var storage: UnsafeMutablePointer<UInt8>?
    private var capacity = 0
    private var encoder: StreamingJSONEncoder?

    static let tiers = [512, 2048, 8192, 65536]
    static let keptCapacity = 8192

    /// Encodes `value`, replacing the buffer's contents. On a throw the contents are unspecified.
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
        try encoder.encodeTopLevel(value)
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
/// It keeps a stack of what is open: objects, arrays, and the slots `superEncoder` hands out. Writing into one
/// closes those above it. Every container is named by a tag, its id (never reused within an encode) and its depth,
/// so a container that was closed is told apart from a later one at the same depth. The value being encoded (a
/// "frame": where it began in the buffer and on the stack) may write only to containers above its depth.
/// A write the stream cannot place marks the frame for a redo as a tree (`pending = .redo`, and ``JSONRedo`` is
/// thrown so the value's `encode(to:)` unwinds); an illegal use records an `EncodingError` that the whole encode
/// throws, even if `encode(to:)` swallows it. Non-throwing calls that fail hand out a dead container (tag 0) whose
/// every use throws that error.
final class StreamingJSONEncoder: Encoder {
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    // @exclusivity(unchecked): one thread, no access overlaps another, and the runtime checks were a fifth of
    // the time of a small encode.
    @exclusivity(unchecked) private(set) var bytes: UnsafeMutablePointer<UInt8>
    @exclusivity(unchecked) private(set) var capacity: Int
    @exclusivity(unchecked) private(set) var count = 0

    /// An open object or array, or the slot a `superEncoder` fills.
    struct Open {
        enum Kind: UInt8 { case object, array, slot }
        var id: Int
        var kind: Kind
        /// Keys or elements begun; for a slot, 1 once it has its value or container.
        var elements = 0
        /// An array that has handed out a `superEncoder`.
        var gaveSuper = false
        /// Keys live in the key table when it opened; its own keys are those above.
        var keys: Int
    }

    @exclusivity(unchecked) private var stack: [Open] = []
    /// Objects and arrays open (slots excluded), for JSONEncoder's depth limit.
    @exclusivity(unchecked) private var nesting = 0
    @exclusivity(unchecked) private var lastID = 0

    /// The value being encoded: the stack depth and buffer offset it began at, and its id (containers it makes
    /// have larger ids). In tree mode depth and id are `Int.max`, so every streaming container is out of bounds.
    @exclusivity(unchecked) private var frameDepth = 0
    @exclusivity(unchecked) private var frameStart = 0
    @exclusivity(unchecked) private var frameID = 0

    private enum Pending: UInt8 { case none, redo, failed }
    @exclusivity(unchecked) private var pending = Pending.none
    private var failure: EncodingError?

    /// The keys of the open objects, to catch a key written twice.
    @exclusivity(unchecked) private var keys = JSONKeyTable()

    static let depthBits = 24
    static let depthMask = (1 << depthBits) - 1
    /// JSONEncoder refuses containers nested 512 deep.
    static let maxNesting = 512

    init() {
        bytes = .allocate(capacity: 1)
        capacity = 1
        stack.reserveCapacity(16)
    }

    deinit {
        keys.free()
    }

    func reset(_ buffer: UnsafeMutablePointer<UInt8>, _ capacity: Int) {
        if bytes != buffer && self.capacity == 1 { bytes.deallocate() }
        bytes = buffer
        self.capacity = capacity
        count = 0
        if stack.capacity > 64 {
            stack = []  // after a deeply nested value
            stack.reserveCapacity(16)
        } else {
            stack.removeAll(keepingCapacity: true)
        }
        nesting = 0
        frameDepth = 0
        frameStart = 0
        frameID = 0
        pending = .none
        failure = nil
        if lastID > 1 << 38 { lastID = 0 }  // ids must fit beside the depth in a tag
        keys.reset()
    }

    /// Encodes a whole value: as ``encodeValue(_:)``, but a value that encodes nothing throws, as in JSONEncoder.
    func encodeTopLevel<T: Encodable>(_ value: T) throws {
        try encodeValue(value, topLevel: true)
        if pending != .none { throw pendingError() }
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
        reserve(41)  // Int128.min: 39 digits and a sign
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

    /// Throws JSONEncoder's error for NaN and the infinities.
    @inline(__always) func checkFinite<T: BinaryFloatingPoint>(_ value: T) throws {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value, .init(codingPath: [], debugDescription: "Unable to encode \(T.self).\(value) directly in JSON."))
        }
    }

    /// Writes a finite number as JSONEncoder does: its shortest round-tripping description without a trailing
    /// ".0". An integral value below 2^24 (Float) or 1e15 (Double), whose description is its digits, is written
    /// without making the description; -0.0 is "-0".
    func writeFloat<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: T) {
        if value == value.rounded(.towardZero) && abs(value) < (T.significandBitCount < 52 ? 16_777_216 : 1e15) {
            if value == 0 && value.sign == .minus {
                write("-0")
            } else {
                writeInteger(Int64(value))  // 3.0 -> 3
            }
            return
        }
        var text = value.description
        text.withUTF8 { utf8 in
            var n = utf8.count
            if n > 2 && utf8[n - 2] == UInt8(ascii: ".") && utf8[n - 1] == UInt8(ascii: "0") { n -= 2 }
            reserve(n)
            (bytes + count).update(from: utf8.baseAddress!, count: n)
            count += n
        }
    }

    // MARK: failures and redos

    /// Records an illegal use; the whole encode throws it.
    func fail(_ message: String) {
        guard pending == .none else { return }
        pending = .failed
        failure = EncodingError.invalidValue(message, .init(codingPath: [], debugDescription: message))
    }

    func pendingError() -> any Error {
        if pending == .redo { return JSONRedo() }
        return failure
            ?? EncodingError.invalidValue("", .init(codingPath: [], debugDescription: "JSON encoding failed"))
    }

    /// The depth of the container `tag` names if the value being encoded may write to it now; otherwise nil, after
    /// marking the value for a redo (its own container, used out of order) or failing (someone else's).
    @inline(__always) func resolve(_ tag: Int) -> Int? {
        let depth = tag & Self.depthMask
        if pending == .none && depth > frameDepth && depth <= stack.count
            && stack[depth - 1].id == tag >> Self.depthBits
        {
            return depth
        }
        misuse(tag)
        return nil
    }

    private func misuse(_ tag: Int) {
        guard pending == .none else { return }
        if tag >> Self.depthBits > frameID {
            pending = .redo
        } else {
            fail("a container was used outside the encode(to:) that made it")
        }
    }

    @inline(__always) func resolveOrThrow(_ tag: Int) throws -> Int {
        guard let depth = resolve(tag) else { throw pendingError() }
        return depth
    }

    // MARK: structure

    @inline(__always) private func tag(_ depth: Int) -> Int {
        stack[depth - 1].id << Self.depthBits | depth
    }

    /// Closes what is open above `depth`.
    @inline(__always) func close(to depth: Int) {
        while stack.count > depth { closeTop() }
    }

    private func closeTop() {
        let top = stack.removeLast()
        keys.removeKeys(downTo: top.keys)
        switch top.kind {
        case .object:
            write(UInt8(ascii: "}"))
            nesting -= 1
        case .array:
            write(UInt8(ascii: "]"))
            nesting -= 1
        case .slot:
            if top.elements == 0 { writeEmptyObject() }  // a superEncoder given nothing: {}, as JSONEncoder
        }
    }

    private func writeEmptyObject() {
        if nesting + 1 >= Self.maxNesting { fail("JSON nested too deep") }
        write("{}")
    }

    /// Drops what is open above `depth` without closing it (its bytes are being rewound).
    private func truncate(to depth: Int) {
        while stack.count > depth {
            let top = stack.removeLast()
            keys.removeKeys(downTo: top.keys)
            if top.kind != .slot { nesting -= 1 }
        }
    }

    /// Opens a container (or pushes a slot) where the caller has placed it; its tag, or 0 past the depth limit.
    private func open(_ kind: Open.Kind) -> Int {
        if kind != .slot {
            guard nesting + 1 < Self.maxNesting else {
                fail("JSON nested too deep")
                return 0
            }
            nesting += 1
            write(kind == .object ? UInt8(ascii: "{") : UInt8(ascii: "["))
        }
        lastID += 1
        stack.append(Open(id: lastID, kind: kind, keys: keys.count))
        return lastID << Self.depthBits | stack.count
    }

    /// Where to rewind to if the value of a key or element throws.
    struct Mark {
        var count: Int
        var depth: Int
        var elements: Int
        var keys: Int
    }

    func rollback(_ mark: Mark) {
        guard stack.count >= mark.depth else { return }
        truncate(to: mark.depth)
        keys.removeKeys(downTo: mark.keys)
        count = mark.count
        stack[mark.depth - 1].elements = mark.elements
    }

    /// Begins `key` in the object `tag` names: closes what is open inside it, writes the separator and the key.
    /// Nil if the object cannot be written now, or already has the key (JSONEncoder keeps one value per key, so the
    /// value is redone as a tree).
    func beginKey(_ key: some CodingKey, _ tag: Int) -> Mark? {
        guard let depth = resolve(tag) else { return nil }
        close(to: depth)
        let mark = Mark(count: count, depth: depth, elements: stack[depth - 1].elements, keys: keys.count)
        if mark.elements > 0 { write(UInt8(ascii: ",")) }
        let start = count
        writeString(key.stringValue)
        guard keys.insert(object: stack[depth - 1].id, bytes, start, count) else {
            count = mark.count
            pending = .redo
            return nil
        }
        write(UInt8(ascii: ":"))
        stack[depth - 1].elements += 1
        return mark
    }

    @inline(__always) func key(_ key: some CodingKey, _ tag: Int) throws -> Mark {
        guard let mark = beginKey(key, tag) else { throw pendingError() }
        return mark
    }

    /// Begins an element of the array `tag` names.
    func beginElement(_ tag: Int) -> Mark? {
        guard let depth = resolve(tag) else { return nil }
        close(to: depth)
        let mark = Mark(count: count, depth: depth, elements: stack[depth - 1].elements, keys: keys.count)
        if mark.elements > 0 { write(UInt8(ascii: ",")) }
        stack[depth - 1].elements += 1
        return mark
    }

    @inline(__always) func element(_ tag: Int) throws -> Mark {
        guard let mark = beginElement(tag) else { throw pendingError() }
        return mark
    }

    /// A container (or slot) of `kind` for `key` in the object `tag` names; 0 if it cannot be made.
    func nested(_ key: some CodingKey, _ tag: Int, _ kind: Open.Kind) -> Int {
        guard beginKey(key, tag) != nil else { return 0 }
        return open(kind)
    }

    /// A container of `kind` as the next element of the array `tag` names; 0 if it cannot be made.
    func nestedElement(_ tag: Int, _ kind: Open.Kind) -> Int {
        guard beginElement(tag) != nil else { return 0 }
        return open(kind)
    }

    /// A slot for a superEncoder as the next element of the array `tag` names. JSONEncoder inserts each super value
    /// at the index the array had (not counting super values still pending) when it was made, once its encoder is
    /// released: the stream's place for the first one, but for a second one only if they are released last-in-
    /// first-out, which the stream cannot know; so a second one from one array redoes the value as a tree.
    func superElement(_ tag: Int) -> Int {
        guard let depth = resolve(tag) else { return 0 }
        if stack[depth - 1].gaveSuper {
            pending = .redo
            return 0
        }
        stack[depth - 1].gaveSuper = true
        return nestedElement(tag, .slot)
    }

    /// The container of `kind` of the value whose slot is at `depth` (the frame's depth, or a superEncoder's slot):
    /// the one it has, or a new one. `filled` says a single value was written there.
    private func container(at depth: Int, filled: Bool, _ kind: Open.Kind) -> Int {
        if stack.count > depth {
            guard stack[depth].kind == kind else {
                fail("an encoder was asked for a second kind of container")
                return 0
            }
            close(to: depth + 1)
            return tag(depth + 1)
        }
        if filled {
            fail("an encoder was asked for a container after encoding a single value")
            return 0
        }
        return open(kind)
    }

    /// The container of the value being encoded.
    private func frameContainer(_ kind: Open.Kind) -> Int {
        guard pending == .none else { return 0 }
        guard frameID != .max else {
            fail("an encoder was used outside the encode(to:) it was given to")
            return 0
        }
        return container(at: frameDepth, filled: count > frameStart, kind)
    }

    /// The container of the superEncoder whose slot `tag` names.
    func slotContainer(_ tag: Int, _ kind: Open.Kind) -> Int {
        guard let depth = resolve(tag) else { return 0 }
        let made = container(at: depth, filled: stack[depth - 1].elements > 0, kind)
        if made != 0 { stack[depth - 1].elements = 1 }
        return made
    }

    /// Before a single value: checks that the slot `tag` names (0 in its depth bits: the frame whose id it holds)
    /// is empty and may be written now, and marks it filled. Returns the slot's depth, 0 for a frame.
    func beginSingle(_ tag: Int) throws -> Int {
        if tag & Self.depthMask == 0 {
            guard pending == .none else { throw pendingError() }
            guard tag >> Self.depthBits == frameID && frameID != .max else {
                fail("a single value container was used outside the encode(to:) that made it")
                throw pendingError()
            }
            guard count == frameStart && stack.count == frameDepth else {
                fail("a single value container was given a second value, or its encoder has a container")
                throw pendingError()
            }
            return 0
        }
        let depth = try resolveOrThrow(tag)
        guard stack[depth - 1].elements == 0 else {
            fail("a single value container was given a second value, or its encoder has a container")
            throw pendingError()
        }
        stack[depth - 1].elements = 1
        return depth
    }

    func rollbackSingle(_ depth: Int) {
        if depth > 0 && depth <= stack.count { stack[depth - 1].elements = 0 }
    }

    // MARK: Encoder

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedJSONContainer<Key>(encoder: self, tag: frameContainer(.object)))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        UnkeyedJSONContainer(encoder: self, tag: frameContainer(.array))
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleJSONContainer(encoder: self, tag: frameID &<< Self.depthBits)
    }

    // MARK: values

    /// Encodes one value in the slot the caller prepared (after a key, or as an array element, or the root).
    func encodeValue<T: Encodable>(_ value: T) throws {
        try encodeValue(value, topLevel: false)
    }

    private func encodeValue<T: Encodable>(_ value: T, topLevel: Bool) throws {
        if pending != .none { throw pendingError() }
        let depth = stack.count
        let start = count
        let saved = (frameDepth, frameStart, frameID)
        lastID += 1
        (frameDepth, frameStart, frameID) = (depth, start, lastID)
        defer { (frameDepth, frameStart, frameID) = saved }
        do {
            try value.encode(to: self)
            if pending != .none { throw pendingError() }  // swallowed by encode(to:)
            if count == start && stack.count == depth {
                guard !topLevel else { throw Self.encodedNothing(value) }
                writeEmptyObject()  // encoded nothing: an empty object, as JSONEncoder writes
            }
            close(to: depth)
            if pending != .none { throw pendingError() }
        } catch {
            truncate(to: depth)
            count = start
            guard pending == .redo else { throw error }
            pending = .none
            do {
                try encodeTree(value, topLevel: topLevel)
            } catch {
                truncate(to: depth)
                count = start
                throw error
            }
        }
    }

    private static func encodedNothing<T>(_ value: T) -> EncodingError {
        .invalidValue(value, .init(codingPath: [], debugDescription: "Top-level \(T.self) did not encode any values."))
    }

    /// Encodes `value` again, into a tree that takes writes in any order, and writes the tree where it began.
    private func encodeTree<T: Encodable>(_ value: T, topLevel: Bool) throws {
        (frameDepth, frameID) = (.max, .max)  // no streaming container may be written meanwhile
        let tree = JSONTreeEncoder(stream: self)
        try value.encode(to: tree)
        if pending != .none { throw pendingError() }
        guard let node = tree.take() else {
            if topLevel { throw Self.encodedNothing(value) }
            return try write(JSONValue.emptyObject, nesting: nesting)
        }
        try write(node, nesting: nesting)
    }

    /// Writes a tree's value whose enclosing containers number `nesting`.
    private func write(_ value: JSONValue, nesting: Int) throws {
        switch value {
        case .null: write("null")
        case .bool(let value): write(value ? "true" : "false")
        case .string(let value): writeString(value)
        case .signed(let value): writeInteger(value)
        case .unsigned(let value): writeInteger(value)
        case .double(let value): writeFloat(value)
        case .float(let value): writeFloat(value)
        case .digits(let text):
            for byte in text.utf8 { write(byte) }
        case .object(let keys, let values):
            guard nesting + 1 < Self.maxNesting else { throw tooDeep() }
            write(UInt8(ascii: "{"))
            for i in keys.indices {
                if i > 0 { write(UInt8(ascii: ",")) }
                writeString(keys[i])
                write(UInt8(ascii: ":"))
                try write(values[i], nesting: nesting + 1)
            }
            write(UInt8(ascii: "}"))
        case .array(let items):
            guard nesting + 1 < Self.maxNesting else { throw tooDeep() }
            write(UInt8(ascii: "["))
            for i in items.indices {
                if i > 0 { write(UInt8(ascii: ",")) }
                try write(items[i], nesting: nesting + 1)
            }
            write(UInt8(ascii: "]"))
        }
    }

    /// JSONEncoder finds this when it writes, after every encode(to:) returned: no value may catch it.
    private func tooDeep() -> any Error {
        fail("JSON nested too deep")
        return pendingError()
    }
}

/// Thrown through a value's `encode(to:)` when the stream cannot place what it asked for: ``StreamingJSONEncoder``
/// catches it where that value began and encodes the value again as a tree. Never escapes the encoder.
struct JSONRedo: Error {}

struct KeyedJSONContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    unowned let encoder: StreamingJSONEncoder
    let tag: Int
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil(forKey key: Key) throws {
        _ = try encoder.key(key, tag)
        encoder.write("null")
    }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        _ = try encoder.key(key, tag)
        encoder.write(value ? "true" : "false")
    }
    mutating func encode(_ value: String, forKey key: Key) throws {
        _ = try encoder.key(key, tag)
        encoder.writeString(value)
    }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        try encoder.checkFinite(value)
        _ = try encoder.key(key, tag)
        encoder.writeFloat(value)
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        try encoder.checkFinite(value)
        _ = try encoder.key(key, tag)
        encoder.writeFloat(value)
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { try writeInt(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try writeInt(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try writeInt(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try writeInt(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try writeInt(value, key) }
    @available(macOS 15.0, *)
    mutating func encode(_ value: Int128, forKey key: Key) throws { try writeInt(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try writeInt(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try writeInt(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try writeInt(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try writeInt(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try writeInt(value, key) }
    @available(macOS 15.0, *)
    mutating func encode(_ value: UInt128, forKey key: Key) throws { try writeInt(value, key) }

    private func writeInt<T: FixedWidthInteger>(_ value: T, _ key: Key) throws {
        _ = try encoder.key(key, tag)
        encoder.writeInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        let mark = try encoder.key(key, tag)
        do {
            try encoder.encodeValue(value)
        } catch {
            encoder.rollback(mark)  // JSONEncoder sets nothing for a value that throws
            throw error
        }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        KeyedEncodingContainer(KeyedJSONContainer<NestedKey>(encoder: encoder, tag: encoder.nested(key, tag, .object)))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        UnkeyedJSONContainer(encoder: encoder, tag: encoder.nested(key, tag, .array))
    }

    mutating func superEncoder() -> any Encoder {
        SlotEncoder(encoder: encoder, tag: encoder.nested(JSONKey("super"), tag, .slot))
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        SlotEncoder(encoder: encoder, tag: encoder.nested(key, tag, .slot))
    }
}

struct UnkeyedJSONContainer: UnkeyedEncodingContainer {
    unowned let encoder: StreamingJSONEncoder
    let tag: Int
    /// Elements encoded through this copy (JSONEncoder's count leaves out superEncoders not yet released).
    private(set) var count = 0
    var codingPath: [any CodingKey] { [] }

    init(encoder: StreamingJSONEncoder, tag: Int) {
        self.encoder = encoder
        self.tag = tag
    }

    private mutating func element() throws {
        _ = try encoder.element(tag)
        count += 1
    }

    mutating func encodeNil() throws {
        try element()
        encoder.write("null")
    }
    mutating func encode(_ value: Bool) throws {
        try element()
        encoder.write(value ? "true" : "false")
    }
    mutating func encode(_ value: String) throws {
        try element()
        encoder.writeString(value)
    }
    mutating func encode(_ value: Double) throws {
        try encoder.checkFinite(value)
        try element()
        encoder.writeFloat(value)
    }
    mutating func encode(_ value: Float) throws {
        try encoder.checkFinite(value)
        try element()
        encoder.writeFloat(value)
    }
    mutating func encode(_ value: Int) throws { try writeInt(value) }
    mutating func encode(_ value: Int8) throws { try writeInt(value) }
    mutating func encode(_ value: Int16) throws { try writeInt(value) }
    mutating func encode(_ value: Int32) throws { try writeInt(value) }
    mutating func encode(_ value: Int64) throws { try writeInt(value) }
    @available(macOS 15.0, *)
    mutating func encode(_ value: Int128) throws { try writeInt(value) }
    mutating func encode(_ value: UInt) throws { try writeInt(value) }
    mutating func encode(_ value: UInt8) throws { try writeInt(value) }
    mutating func encode(_ value: UInt16) throws { try writeInt(value) }
    mutating func encode(_ value: UInt32) throws { try writeInt(value) }
    mutating func encode(_ value: UInt64) throws { try writeInt(value) }
    @available(macOS 15.0, *)
    mutating func encode(_ value: UInt128) throws { try writeInt(value) }

    private mutating func writeInt<T: FixedWidthInteger>(_ value: T) throws {
        try element()
        encoder.writeInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let mark = try encoder.element(tag)
        do {
            try encoder.encodeValue(value)
        } catch {
            encoder.rollback(mark)
            throw error
        }
        count += 1
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<NestedKey>
    {
        count += 1
        return KeyedEncodingContainer(
            KeyedJSONContainer<NestedKey>(encoder: encoder, tag: encoder.nestedElement(tag, .object)))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        count += 1
        return UnkeyedJSONContainer(encoder: encoder, tag: encoder.nestedElement(tag, .array))
    }

    mutating func superEncoder() -> any Encoder {
        SlotEncoder(encoder: encoder, tag: encoder.superElement(tag))
    }
}

/// A single value container: of the value being encoded (`tag` holds that frame's id, with depth 0), or of a
/// superEncoder's slot.
struct SingleJSONContainer: SingleValueEncodingContainer {
    unowned let encoder: StreamingJSONEncoder
    let tag: Int
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil() throws {
        _ = try encoder.beginSingle(tag)
        encoder.write("null")
    }
    mutating func encode(_ value: Bool) throws {
        _ = try encoder.beginSingle(tag)
        encoder.write(value ? "true" : "false")
    }
    mutating func encode(_ value: String) throws {
        _ = try encoder.beginSingle(tag)
        encoder.writeString(value)
    }
    mutating func encode(_ value: Double) throws {
        try encoder.checkFinite(value)
        _ = try encoder.beginSingle(tag)
        encoder.writeFloat(value)
    }
    mutating func encode(_ value: Float) throws {
        try encoder.checkFinite(value)
        _ = try encoder.beginSingle(tag)
        encoder.writeFloat(value)
    }
    mutating func encode(_ value: Int) throws { try writeInt(value) }
    mutating func encode(_ value: Int8) throws { try writeInt(value) }
    mutating func encode(_ value: Int16) throws { try writeInt(value) }
    mutating func encode(_ value: Int32) throws { try writeInt(value) }
    mutating func encode(_ value: Int64) throws { try writeInt(value) }
    @available(macOS 15.0, *)
    mutating func encode(_ value: Int128) throws { try writeInt(value) }
    mutating func encode(_ value: UInt) throws { try writeInt(value) }
    mutating func encode(_ value: UInt8) throws { try writeInt(value) }
    mutating func encode(_ value: UInt16) throws { try writeInt(value) }
    mutating func encode(_ value: UInt32) throws { try writeInt(value) }
    mutating func encode(_ value: UInt64) throws { try writeInt(value) }
    @available(macOS 15.0, *)
    mutating func encode(_ value: UInt128) throws { try writeInt(value) }

    private func writeInt<T: FixedWidthInteger>(_ value: T) throws {
        _ = try encoder.beginSingle(tag)
        encoder.writeInteger(value)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let slot = try encoder.beginSingle(tag)
        do {
            try encoder.encodeValue(value)
        } catch {
            encoder.rollbackSingle(slot)
            throw error
        }
    }
}

/// The encoder `superEncoder()` hands out: its container or single value fills the slot `tag` names.
private struct SlotEncoder: Encoder {
    unowned let encoder: StreamingJSONEncoder
    let tag: Int
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedJSONContainer<Key>(encoder: encoder, tag: encoder.slotContainer(tag, .object)))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        UnkeyedJSONContainer(encoder: encoder, tag: encoder.slotContainer(tag, .array))
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleJSONContainer(encoder: encoder, tag: tag)
    }
}

/// The keys of the objects now open, by object id and the key's escaped bytes in the buffer, to catch a key
/// written twice. Only open objects need them (a write to a closed object is redone as a tree anyway), and objects
/// close in stack order, so keys are removed last-in-first-out: a log keeps each key's slot in insertion order,
/// and with linear probing emptying the newest entry never breaks an older one's probe chain. Reused across
/// encodes; it allocates only to grow past the keys open at once, and shrinks back after an encode that did.
struct JSONKeyTable {
    struct Entry {
        /// 0: empty.
        var object: Int
        var start: Int
        var count: Int32
        var hash: UInt32
    }

    private var entries: UnsafeMutablePointer<Entry>
    private var mask: Int
    /// The slot of each live key, oldest first.
    private var log: UnsafeMutablePointer<Int>
    private var logCapacity: Int
    /// Keys live now.
    private(set) var count = 0

    static let keptCapacity = 64

    init() {
        entries = Self.allocate(Self.keptCapacity)
        mask = Self.keptCapacity - 1
        logCapacity = Self.keptCapacity / 2
        log = .allocate(capacity: logCapacity)
    }

    private static func allocate(_ capacity: Int) -> UnsafeMutablePointer<Entry> {
        let entries = UnsafeMutablePointer<Entry>.allocate(capacity: capacity)
        entries.initialize(repeating: Entry(object: 0, start: 0, count: 0, hash: 0), count: capacity)
        return entries
    }

    func free() {
        entries.deallocate()
        log.deallocate()
    }

    /// Empties the table for a new encode (an encode that threw may have left keys), shrinking it if it grew.
    mutating func reset() {
        removeKeys(downTo: 0)
        if mask + 1 > Self.keptCapacity {
            entries.deallocate()
            entries = Self.allocate(Self.keptCapacity)
            mask = Self.keptCapacity - 1
            log.deallocate()
            logCapacity = Self.keptCapacity / 2
            log = .allocate(capacity: logCapacity)
        }
    }

    /// Removes the newest keys until `count` live keys remain.
    @inline(__always) mutating func removeKeys(downTo remaining: Int) {
        while count > remaining {
            count -= 1
            entries[log[count]].object = 0
        }
    }

    /// Records the key in `bytes[start..<end]` for `object` (nonzero); false if the object already has it.
    mutating func insert(object: Int, _ bytes: UnsafeMutablePointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ (UInt64(truncatingIfNeeded: object) &* 0x9E37_79B9_7F4A_7C15)
        for i in start..<end { h = (h ^ UInt64(bytes[i])) &* 0x0000_0100_0000_01b3 }
        let hash = UInt32(truncatingIfNeeded: h ^ (h >> 32))
        let length = end - start
        var i = Int(hash) & mask
        while entries[i].object != 0 {
            let entry = entries[i]
            if entry.object == object && entry.hash == hash && Int(entry.count) == length
                && Self.same(bytes + entry.start, bytes + start, length)
            {
                return false
            }
            i = (i + 1) & mask
        }
        entries[i] = Entry(object: object, start: start, count: Int32(truncatingIfNeeded: length), hash: hash)
        if count == logCapacity { growLog() }
        log[count] = i
        count += 1
        if count * 2 > mask { grow() }
        return true
    }

    private static func same(_ a: UnsafeMutablePointer<UInt8>, _ b: UnsafeMutablePointer<UInt8>, _ n: Int) -> Bool {
        for i in 0..<n where a[i] != b[i] { return false }
        return true
    }

    private mutating func growLog() {
        let fresh = UnsafeMutablePointer<Int>.allocate(capacity: logCapacity * 2)
        fresh.update(from: log, count: count)
        log.deallocate()
        log = fresh
        logCapacity *= 2
    }

    /// Doubles the table, inserting the live keys again oldest first (so removing newest first stays safe).
    private mutating func grow() {
        let old = entries
        entries = Self.allocate((mask + 1) * 2)
        mask = (mask + 1) * 2 - 1
        for n in 0..<count {
            let entry = old[log[n]]
            var i = Int(entry.hash) & mask
            while entries[i].object != 0 { i = (i + 1) & mask }
            entries[i] = entry
            log[n] = i
        }
        old.deallocate()
    }
}

// MARK: - the tree, for values used out of order

/// A finished JSON value (JSONEncoder's `JSONEncoderValue`): what a nested value's `encode(to:)` produced,
/// frozen when it returned.
indirect enum JSONValue {
    case null
    case bool(Bool)
    case string(String)
    case signed(Int64)
    case unsigned(UInt64)
    case double(Double)
    case float(Float)
    /// A 128-bit integer, as its digits.
    case digits(String)
    case object(keys: [String], values: [JSONValue])
    case array([JSONValue])

    static var emptyObject: JSONValue { .object(keys: [], values: []) }  // not a stored global: no box kept to exit
}

/// A member of a container being built (JSONEncoder's `JSONFuture`): a finished value, or a nested container
/// that can still be written to, by reference.
enum JSONNode {
    case value(JSONValue)
    case object(JSONTreeObject)
    case array(JSONTreeArray)

    var frozen: JSONValue {
        switch self {
        case .value(let value): value
        case .object(let object): object.frozen
        case .array(let array): array.frozen
        }
    }
}

/// An object in insertion order; a key set again keeps its place and takes the new value.
final class JSONTreeObject {
    private var keys: [String] = []
    private var values: [JSONNode] = []
    private var index: [JSONKeyBytes: Int] = [:]

    init() {}

    /// A container to extend an object value (JSONEncoder's `convertedToObjectRef`).
    init(keys: [String], values: [JSONValue]) {
        for (key, value) in zip(keys, values) { set(key, .value(value)) }
    }

    subscript(key: String) -> JSONNode? {
        index[JSONKeyBytes(key)].map { values[$0] }
    }

    func set(_ key: String, _ value: JSONNode) {
        if let i = index[JSONKeyBytes(key)] {
            values[i] = value
        } else {
            index[JSONKeyBytes(key)] = keys.count
            keys.append(key)
            values.append(value)
        }
    }

    var frozen: JSONValue { .object(keys: keys, values: values.map(\.frozen)) }
}

final class JSONTreeArray {
    var items: [JSONNode] = []

    init(_ items: [JSONNode] = []) { self.items = items }

    var frozen: JSONValue { .array(items.map(\.frozen)) }
}

/// A key compared by its UTF-8 bytes, as the stream compares keys (String's == merges canonical equivalents).
struct JSONKeyBytes: Hashable {
    let string: String
    init(_ string: String) { self.string = string }
    static func == (a: Self, b: Self) -> Bool { a.string.utf8.elementsEqual(b.string.utf8) }
    func hash(into hasher: inout Hasher) {
        for byte in string.utf8 { hasher.combine(byte) }
    }
}

/// The encoder of the tree fallback: JSONEncoder's semantics (its `__JSONEncoder`), where it traps recording an
/// `EncodingError` on `stream` instead. Containers hold their encoder, as JSONEncoder's do, so a superEncoder is
/// released (and fills its slot) when the last container made from it is.
class JSONTreeEncoder: Encoder, SingleValueEncodingContainer {
    let stream: StreamingJSONEncoder
    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    private var single: JSONValue?
    private var object: JSONTreeObject?
    private var array: JSONTreeArray?

    init(stream: StreamingJSONEncoder) {
        self.stream = stream
    }

    /// What was encoded, frozen, or nil if nothing was.
    func take() -> JSONValue? {
        if let object { return object.frozen }
        if let array { return array.frozen }
        return single
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if object == nil {
            guard single == nil && array == nil else {
                stream.fail("an encoder was asked for a second kind of container")
                return KeyedEncodingContainer(JSONTreeKeyed<Key>(encoder: self, object: JSONTreeObject()))
            }
            object = JSONTreeObject()
        }
        return KeyedEncodingContainer(JSONTreeKeyed<Key>(encoder: self, object: object.unsafelyUnwrapped))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if array == nil {
            guard single == nil && object == nil else {
                stream.fail("an encoder was asked for a second kind of container")
                return JSONTreeUnkeyed(encoder: self, array: JSONTreeArray())
            }
            array = JSONTreeArray()
        }
        return JSONTreeUnkeyed(encoder: self, array: array.unsafelyUnwrapped)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { self }

    /// The value of a nested value (`{}` if it encodes nothing).
    func value<T: Encodable>(of value: T) throws -> JSONValue {
        let child = JSONTreeEncoder(stream: stream)
        try value.encode(to: child)
        return child.take() ?? .emptyObject
    }

    static func number<T: BinaryFloatingPoint>(_ value: T, _ make: (T) -> JSONValue) throws -> JSONValue {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value, .init(codingPath: [], debugDescription: "Unable to encode \(T.self).\(value) directly in JSON."))
        }
        return make(value)
    }

    private func put(_ value: () throws -> JSONValue) throws {
        guard single == nil && object == nil && array == nil else {
            stream.fail("a single value container was given a second value, or its encoder has a container")
            throw stream.pendingError()
        }
        single = try value()
    }

    func encodeNil() throws { try put { .null } }
    func encode(_ value: Bool) throws { try put { .bool(value) } }
    func encode(_ value: String) throws { try put { .string(value) } }
    func encode(_ value: Double) throws { try put { try Self.number(value, JSONValue.double) } }
    func encode(_ value: Float) throws { try put { try Self.number(value, JSONValue.float) } }
    func encode(_ value: Int) throws { try put { .signed(Int64(value)) } }
    func encode(_ value: Int8) throws { try put { .signed(Int64(value)) } }
    func encode(_ value: Int16) throws { try put { .signed(Int64(value)) } }
    func encode(_ value: Int32) throws { try put { .signed(Int64(value)) } }
    func encode(_ value: Int64) throws { try put { .signed(value) } }
    @available(macOS 15.0, *)
    func encode(_ value: Int128) throws { try put { .digits(String(value)) } }
    func encode(_ value: UInt) throws { try put { .unsigned(UInt64(value)) } }
    func encode(_ value: UInt8) throws { try put { .unsigned(UInt64(value)) } }
    func encode(_ value: UInt16) throws { try put { .unsigned(UInt64(value)) } }
    func encode(_ value: UInt32) throws { try put { .unsigned(UInt64(value)) } }
    func encode(_ value: UInt64) throws { try put { .unsigned(value) } }
    @available(macOS 15.0, *)
    func encode(_ value: UInt128) throws { try put { .digits(String(value)) } }
    func encode<T: Encodable>(_ value: T) throws { try put { try self.value(of: value) } }
}

/// The encoder `superEncoder` hands out in the tree: what it holds when released goes into its slot, as
/// JSONEncoder's `__JSONReferencingEncoder` does (a key set then; an array element inserted at the index the
/// array had when this encoder was made).
final class JSONTreeSuperEncoder: JSONTreeEncoder {
    enum Slot {
        case key(JSONTreeObject, String)
        case index(JSONTreeArray, Int)
    }

    let parent: JSONTreeEncoder
    let slot: Slot

    init(parent: JSONTreeEncoder, slot: Slot) {
        self.parent = parent
        self.slot = slot
        super.init(stream: parent.stream)
    }

    deinit {
        let value = JSONNode.value(take() ?? .emptyObject)
        switch slot {
        case .key(let object, let key): object.set(key, value)
        case .index(let array, let index): array.items.insert(value, at: min(index, array.items.count))
        }
    }
}

struct JSONTreeKeyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: JSONTreeEncoder
    let object: JSONTreeObject
    var codingPath: [any CodingKey] { [] }

    private func set(_ key: Key, _ value: JSONValue) { object.set(key.stringValue, .value(value)) }

    mutating func encodeNil(forKey key: Key) throws { set(key, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { set(key, .bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { set(key, .string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        set(key, try JSONTreeEncoder.number(value, JSONValue.double))
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        set(key, try JSONTreeEncoder.number(value, JSONValue.float))
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { set(key, .signed(Int64(value))) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { set(key, .signed(Int64(value))) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { set(key, .signed(Int64(value))) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { set(key, .signed(Int64(value))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { set(key, .signed(value)) }
    @available(macOS 15.0, *)
    mutating func encode(_ value: Int128, forKey key: Key) throws { set(key, .digits(String(value))) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { set(key, .unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { set(key, .unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { set(key, .unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { set(key, .unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { set(key, .unsigned(value)) }
    @available(macOS 15.0, *)
    mutating func encode(_ value: UInt128, forKey key: Key) throws { set(key, .digits(String(value))) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { set(key, try encoder.value(of: value)) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        let nested: JSONTreeObject
        switch object[key.stringValue] {
        case .object(let existing)?:
            nested = existing  // the same container again
        case .value(.object(let keys, let values))?:
            nested = JSONTreeObject(keys: keys, values: values)  // an object value extended, as JSONEncoder does
            object.set(key.stringValue, .object(nested))
        case nil:
            nested = JSONTreeObject()
            object.set(key.stringValue, .object(nested))
        case _?:
            encoder.stream.fail(
                "a keyed container was asked for key \"\(key.stringValue)\", which holds another kind of value")
            nested = JSONTreeObject()
        }
        return KeyedEncodingContainer(JSONTreeKeyed<NestedKey>(encoder: encoder, object: nested))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested: JSONTreeArray
        switch object[key.stringValue] {
        case .array(let existing)?:
            nested = existing
        case .value(.array(let items))?:
            nested = JSONTreeArray(items.map(JSONNode.value))
            object.set(key.stringValue, .array(nested))
        case nil:
            nested = JSONTreeArray()
            object.set(key.stringValue, .array(nested))
        case _?:
            encoder.stream.fail(
                "an unkeyed container was asked for key \"\(key.stringValue)\", which holds another kind of value")
            nested = JSONTreeArray()
        }
        return JSONTreeUnkeyed(encoder: encoder, array: nested)
    }

    mutating func superEncoder() -> any Encoder {
        JSONTreeSuperEncoder(parent: encoder, slot: .key(object, "super"))
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        JSONTreeSuperEncoder(parent: encoder, slot: .key(object, key.stringValue))
    }
}

struct JSONTreeUnkeyed: UnkeyedEncodingContainer {
    let encoder: JSONTreeEncoder
    let array: JSONTreeArray
    var codingPath: [any CodingKey] { [] }
    var count: Int { array.items.count }

    private func append(_ value: JSONValue) { array.items.append(.value(value)) }

    mutating func encodeNil() throws { append(.null) }
    mutating func encode(_ value: Bool) throws { append(.bool(value)) }
    mutating func encode(_ value: String) throws { append(.string(value)) }
    mutating func encode(_ value: Double) throws { append(try JSONTreeEncoder.number(value, JSONValue.double)) }
    mutating func encode(_ value: Float) throws { append(try JSONTreeEncoder.number(value, JSONValue.float)) }
    mutating func encode(_ value: Int) throws { append(.signed(Int64(value))) }
    mutating func encode(_ value: Int8) throws { append(.signed(Int64(value))) }
    mutating func encode(_ value: Int16) throws { append(.signed(Int64(value))) }
    mutating func encode(_ value: Int32) throws { append(.signed(Int64(value))) }
    mutating func encode(_ value: Int64) throws { append(.signed(value)) }
    @available(macOS 15.0, *)
    mutating func encode(_ value: Int128) throws { append(.digits(String(value))) }
    mutating func encode(_ value: UInt) throws { append(.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt8) throws { append(.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt16) throws { append(.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt32) throws { append(.unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt64) throws { append(.unsigned(value)) }
    @available(macOS 15.0, *)
    mutating func encode(_ value: UInt128) throws { append(.digits(String(value))) }
    mutating func encode<T: Encodable>(_ value: T) throws { append(try encoder.value(of: value)) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<NestedKey>
    {
        let nested = JSONTreeObject()
        array.items.append(.object(nested))
        return KeyedEncodingContainer(JSONTreeKeyed<NestedKey>(encoder: encoder, object: nested))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = JSONTreeArray()
        array.items.append(.array(nested))
        return JSONTreeUnkeyed(encoder: encoder, array: nested)
    }

    mutating func superEncoder() -> any Encoder {
        JSONTreeSuperEncoder(parent: encoder, slot: .index(array, array.items.count))
    }
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
