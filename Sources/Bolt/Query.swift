/// A query string (or form body) split into name/value byte ranges: up to 16 pairs inline, more in an array kept
/// for reuse, so parsing allocates nothing for ordinary queries and never fails for long ones.
///
/// Decoding follows `application/x-www-form-urlencoded` (WHATWG URL): `+` is a space, `%XX` is a byte (a `%`
/// without two hex digits stays as it is), pairs are separated by `&`, a pair without `=` has an empty value,
/// empty pairs are skipped. Names are compared after decoding.
struct QueryPairs {
    struct Pair {
        var nameStart: UInt32
        var nameEnd: UInt32
        var valueEnd: UInt32  // the value is nameEnd + 1 ..< valueEnd (empty when there is no `=`)
        var hasValue: Bool
    }

    static let inlineCapacity = 16
    private var inline = InlineArray<16, Pair>(repeating: Pair(nameStart: 0, nameEnd: 0, valueEnd: 0, hasValue: false))
    private var spill: [Pair] = []
    private(set) var count = 0
    private(set) var parsed = false

    mutating func reset() {
        count = 0
        parsed = false
    }

    private mutating func append(_ pair: Pair) {
        if count < Self.inlineCapacity {
            inline[count] = pair
        } else if count - Self.inlineCapacity < spill.count {
            spill[count - Self.inlineCapacity] = pair
        } else {
            spill.append(pair)
        }
        count += 1
    }

    private func pair(_ index: Int) -> Pair {
        index < Self.inlineCapacity ? inline[index] : spill[index - Self.inlineCapacity]
    }

    /// Splits `query` (offsets are relative to its start index).
    mutating func parse(_ query: ByteView) {
        count = 0
        parsed = true
        let base = query.startIndex
        var start = base
        while start < query.endIndex {
            var end = start
            var equals = -1
            while end < query.endIndex && query[end] != UInt8(ascii: "&") {
                if equals < 0 && query[end] == UInt8(ascii: "=") { equals = end }
                end += 1
            }
            if end > start {
                let nameEnd = equals >= 0 ? equals : end
                append(Pair(nameStart: UInt32(start - base), nameEnd: UInt32(nameEnd - base),
                            valueEnd: UInt32(end - base), hasValue: equals >= 0))
            }
            start = end + 1
        }
    }

    private func name(_ pair: Pair, _ query: ByteView) -> ByteView {
        query[(query.startIndex + Int(pair.nameStart))..<(query.startIndex + Int(pair.nameEnd))]
    }

    private func value(_ pair: Pair, _ query: ByteView) -> ByteView {
        guard pair.hasValue else { return ByteView() }
        return query[(query.startIndex + Int(pair.nameEnd) + 1)..<(query.startIndex + Int(pair.valueEnd))]
    }

    private func matches(_ pair: Pair, _ query: ByteView, _ wanted: UnsafeBufferPointer<UInt8>) -> Bool {
        let raw = name(pair, query)
        if !raw.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) {
            return raw.count == wanted.count && zip(raw, wanted).allSatisfy { $0 == $1 }
        }
        return Array(formDecoded(raw).utf8) == Array(wanted)
    }

    func first(named name: String, in query: ByteView) -> String? {
        var name = name
        return name.withUTF8 { wanted in
            for i in 0..<count where matches(pair(i), query, wanted) {
                return formDecoded(value(pair(i), query))
            }
            return nil
        }
    }

    func all(named name: String, in query: ByteView) -> [String] {
        var name = name
        return name.withUTF8 { wanted in
            (0..<count).filter { matches(pair($0), query, wanted) }.map { formDecoded(value(pair($0), query)) }
        }
    }
}

/// `bytes` decoded as a form value: `+` is a space, `%XX` a byte; invalid UTF-8 becomes U+FFFD.
func formDecoded(_ bytes: ByteView) -> String {
    bytes.withUnsafeBytes { encoded in
        guard encoded.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else {
            return String(decoding: encoded, as: UTF8.self)
        }
        var decoded = [UInt8]()
        decoded.reserveCapacity(encoded.count)
        var i = 0
        while i < encoded.count {
            let byte = encoded[i]
            if byte == UInt8(ascii: "+") {
                decoded.append(UInt8(ascii: " "))
                i += 1
            } else if byte == UInt8(ascii: "%"), i + 2 < encoded.count,
                let high = hexValue(encoded[i + 1]), let low = hexValue(encoded[i + 2])
            {
                decoded.append(high << 4 | low)
                i += 3
            } else {
                decoded.append(byte)
                i += 1
            }
        }
        return String(decoding: decoded, as: UTF8.self)
    }
}
