// Bolt's JSON encoder (JSONWriter, behind c.json) against Foundation's JSONEncoder: the out-of-order container
// use that trapped (issue 17), the edge cases of the Encoder protocols, and a seeded differential fuzz over random
// container scripts. Values are compared parsed (numbers by value, objects without key order), never as bytes.

import BoltTesting
import Foundation
import Testing

@testable import Bolt

// MARK: - comparing JSON values

/// A parsed JSON value: strings and keys as their UTF-8 bytes (String's == would merge canonical equivalents),
/// numbers as their text.
private indirect enum ParsedJSON: CustomStringConvertible {
    case null
    case bool(Bool)
    case number(String)
    case string([UInt8])
    case array([ParsedJSON])
    case object([[UInt8]: ParsedJSON])

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let value): "\(value)"
        case .number(let text): text
        case .string(let bytes): "\"\(String(decoding: bytes, as: UTF8.self))\""
        case .array(let items): "[" + items.map(\.description).joined(separator: ",") + "]"
        case .object(let members):
            "{" + members.map { "\(ParsedJSON.string($0.key)):\($0.value)" }.sorted().joined(separator: ",") + "}"
        }
    }

    /// Same value: numbers equal as integers when both are written as integers, otherwise as Doubles (bit for
    /// bit, so -0 and 0 differ); objects equal whatever their key order.
    func same(as other: ParsedJSON) -> Bool {
        switch (self, other) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.number(let a), .number(let b)): return Self.sameNumber(a, b)
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.same(as: $1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { value.same(as: $0) } ?? false }
        default: return false
        }
    }

    static func sameNumber(_ a: String, _ b: String) -> Bool {
        if a == b { return true }
        let integral = { (text: String) in !text.contains(where: { ".eE".contains($0) }) }
        if integral(a) && integral(b) { return false }
        guard let x = Double(a), let y = Double(b) else { return false }
        return x.bitPattern == y.bitPattern
    }
}

/// A strict RFC 8259 parser: rejects what JSON does not allow, and duplicate keys.
private struct StrictJSONParser {
    struct Invalid: Error, CustomStringConvertible {
        var description: String
    }

    private let bytes: [UInt8]
    private var at = 0

    static func parse(_ bytes: [UInt8]) throws -> ParsedJSON {
        var parser = StrictJSONParser(bytes: bytes)
        parser.skipSpace()
        let value = try parser.value()
        parser.skipSpace()
        guard parser.at == bytes.count else { throw parser.invalid("trailing bytes") }
        return value
    }

    private init(bytes: [UInt8]) { self.bytes = bytes }

    private func invalid(_ what: String) -> Invalid {
        Invalid(description: "\(what) at byte \(at) of \(String(decoding: bytes, as: UTF8.self))")
    }

    private var peek: UInt8? { at < bytes.count ? bytes[at] : nil }

    private mutating func skipSpace() {
        while let byte = peek, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { at += 1 }
    }

    private mutating func expect(_ literal: String) throws {
        for byte in literal.utf8 {
            guard peek == byte else { throw invalid("expected \(literal)") }
            at += 1
        }
    }

    private mutating func value() throws -> ParsedJSON {
        switch peek {
        case UInt8(ascii: "n"):
            try expect("null")
            return .null
        case UInt8(ascii: "t"):
            try expect("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expect("false")
            return .bool(false)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "["):
            at += 1
            skipSpace()
            var items: [ParsedJSON] = []
            if peek == UInt8(ascii: "]") {
                at += 1
                return .array(items)
            }
            while true {
                skipSpace()
                items.append(try value())
                skipSpace()
                if peek == UInt8(ascii: ",") {
                    at += 1
                    continue
                }
                try expect("]")
                return .array(items)
            }
        case UInt8(ascii: "{"):
            at += 1
            skipSpace()
            var members: [[UInt8]: ParsedJSON] = [:]
            if peek == UInt8(ascii: "}") {
                at += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard peek == UInt8(ascii: "\"") else { throw invalid("expected a key") }
                let key = try string()
                skipSpace()
                try expect(":")
                skipSpace()
                guard members.updateValue(try value(), forKey: key) == nil else { throw invalid("duplicate key") }
                skipSpace()
                if peek == UInt8(ascii: ",") {
                    at += 1
                    continue
                }
                try expect("}")
                return .object(members)
            }
        default:
            return .number(try number())
        }
    }

    private mutating func digits() -> Int {
        let start = at
        while let byte = peek, byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") { at += 1 }
        return at - start
    }

    private mutating func number() throws -> String {
        let start = at
        if peek == UInt8(ascii: "-") { at += 1 }
        if peek == UInt8(ascii: "0") {
            at += 1
        } else {
            guard digits() > 0 else { throw invalid("expected a value") }
        }
        if peek == UInt8(ascii: ".") {
            at += 1
            guard digits() > 0 else { throw invalid("expected fraction digits") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            at += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { at += 1 }
            guard digits() > 0 else { throw invalid("expected exponent digits") }
        }
        return String(decoding: bytes[start..<at], as: UTF8.self)
    }

    private mutating func hex4() throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let byte = peek, let digit = Int(String(UnicodeScalar(byte)), radix: 16) else {
                throw invalid("bad \\u escape")
            }
            value = value * 16 + UInt32(digit)
            at += 1
        }
        return value
    }

    private mutating func string() throws -> [UInt8] {
        try expect("\"")
        var out: [UInt8] = []
        while true {
            guard let byte = peek else { throw invalid("unterminated string") }
            at += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard String(bytes: out, encoding: .utf8) != nil else { throw invalid("invalid UTF-8") }
                return out
            case 0..<0x20:
                throw invalid("raw control character in a string")
            case UInt8(ascii: "\\"):
                guard let escape = peek else { throw invalid("unterminated escape") }
                at += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar < 0xDC00 {
                        try expect("\\u")
                        let low = try hex4()
                        guard low >= 0xDC00 && low < 0xE000 else { throw invalid("lone surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw invalid("lone surrogate") }
                    out.append(contentsOf: Array(String(Character(unicode)).utf8))
                default:
                    throw invalid("bad escape")
                }
            default:
                out.append(byte)
            }
        }
    }
}

/// Encodes with Bolt's encoder, reusing one writer as a context does.
private final class BoltJSON {
    private var writer = JSONWriter()

    deinit { writer.release() }

    func encode<T: Encodable>(_ value: T) -> Result<[UInt8], any Error> {
        do {
            try writer.encode(value)
            return .success(writer.withBytes { Array($0) })
        } catch {
            return .failure(error)
        }
    }
}

private func foundationJSON<T: Encodable>(_ value: T) -> Result<[UInt8], any Error> {
    Result { Array(try JSONEncoder().encode(value)) }
}

private func text(_ result: Result<[UInt8], any Error>) -> String {
    switch result {
    case .success(let bytes): String(decoding: bytes, as: UTF8.self)
    case .failure(let error): "throws \(error)"
    }
}

/// Nil if both encoders agree (both throw, or both give the same value); otherwise what differs.
private func disagreement(_ bolt: Result<[UInt8], any Error>, _ foundation: Result<[UInt8], any Error>) -> String? {
    switch (bolt, foundation) {
    case (.failure, .failure):
        return nil
    case (.success(let boltBytes), .success(let foundationBytes)):
        do {
            let boltValue = try StrictJSONParser.parse(boltBytes)
            let foundationValue = try StrictJSONParser.parse(foundationBytes)
            if boltValue.same(as: foundationValue) { return nil }
            return "Bolt \(text(bolt))\nFoundation \(text(foundation))"
        } catch {
            return "unparsable: \(error)\nBolt \(text(bolt))\nFoundation \(text(foundation))"
        }
    default:
        return "Bolt \(text(bolt))\nFoundation \(text(foundation))"
    }
}

// MARK: - hand-written cases

private struct FuzzKey: CodingKey, Hashable {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

/// An `Encodable` made of a closure, for one-off container choreography.
private struct Encoding: Encodable, @unchecked Sendable {
    let body: (any Encoder) throws -> Void
    init(_ body: @escaping (any Encoder) throws -> Void) { self.body = body }
    func encode(to encoder: any Encoder) throws { try body(encoder) }
}

private struct Boom: Error {}

@Suite struct JSONEncoderFuzzTests {
    /// The exact case of issue 17: a nested container used after its parent encoded another key.
    private static let outOfOrder = Encoding { encoder in
        var root = encoder.container(keyedBy: FuzzKey.self)
        var list = root.nestedUnkeyedContainer(forKey: FuzzKey("list"))
        var info = root.nestedContainer(keyedBy: FuzzKey.self, forKey: FuzzKey("info"))
        let parent = root.superEncoder()
        try root.encode(1, forKey: FuzzKey("after"))
        try list.encode("late")
        try info.encode(true, forKey: FuzzKey("ok"))
        var parentKeys = parent.container(keyedBy: FuzzKey.self)
        try parentKeys.encode("base", forKey: FuzzKey("kind"))
        try list.encode(2)
    }

    func expectAgreement<T: Encodable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) {
        let bolt = BoltJSON().encode(value)
        if let difference = disagreement(bolt, foundationJSON(value)) {
            Issue.record(Comment(rawValue: difference), sourceLocation: sourceLocation)
        }
    }

    func expectBolt<T: Encodable>(_ value: T, is expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let bolt = BoltJSON().encode(value)
        guard case .success(let bytes) = bolt,
            let got = try? StrictJSONParser.parse(bytes),
            let want = try? StrictJSONParser.parse(Array(expected.utf8)), got.same(as: want)
        else {
            Issue.record("Bolt \(text(bolt)), expected \(expected)", sourceLocation: sourceLocation)
            return
        }
    }

    func expectBoltThrows<T: Encodable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) {
        if case .success = BoltJSON().encode(value) {
            Issue.record(
                "Bolt encoded \(text(BoltJSON().encode(value))), expected a throw", sourceLocation: sourceLocation)
        }
    }

    @Test func encodesContainersUsedOutOfOrderThroughContextJSON() throws {
        let app = App()
        app.get("/") { c in try c.json(Self.outOfOrder) }
        let response = try app.test(.get, "/")
        #expect(response.status == .ok)
        let got = try StrictJSONParser.parse(Array(response.text.utf8))
        let want = try StrictJSONParser.parse(Array(try JSONEncoder().encode(Self.outOfOrder)))
        #expect(got.same(as: want), "Bolt \(response.text)")
        let literal = #"{"list":["late",2],"info":{"ok":true},"super":{"kind":"base"},"after":1}"#
        #expect(got.same(as: try StrictJSONParser.parse(Array(literal.utf8))))
    }

    @Test func redoesAValueEvenIfItSwallowsTheError() {
        // the out-of-order write throws inside the stream (to unwind the value); try? must not lose the element
        expectAgreement(
            Encoding { encoder in
                var root = encoder.container(keyedBy: FuzzKey.self)
                var list = root.nestedUnkeyedContainer(forKey: FuzzKey("l"))
                try root.encode(1, forKey: FuzzKey("a"))
                try? list.encode(2)
            })
        expectBolt(
            Encoding { encoder in
                var root = encoder.container(keyedBy: FuzzKey.self)
                var list = root.nestedUnkeyedContainer(forKey: FuzzKey("l"))
                try root.encode(1, forKey: FuzzKey("a"))
                try? list.encode(2)
            }, is: #"{"l":[2],"a":1}"#)
    }

    @Test func redoesOnlyTheValueUsedOutOfOrder() throws {
        // the out-of-order value sits among streamed siblings, in an array, three levels down
        struct Outer: Encodable {
            var before = ["x": [1, 2]]
            var middle: [[Encoding]] = [[JSONEncoderFuzzTests.outOfOrder, JSONEncoderFuzzTests.outOfOrder]]
            var after = "end"
        }
        expectAgreement(Outer())
        expectAgreement([Outer(), Outer()])
    }

    @Test func nestedContainersAskedTwiceForOneKeyAreOneContainer() {
        expectAgreement(
            Encoding { encoder in
                var root = encoder.container(keyedBy: FuzzKey.self)
                var first = root.nestedContainer(keyedBy: FuzzKey.self, forKey: FuzzKey("n"))
                try first.encode(1, forKey: FuzzKey("a"))
                var second = root.nestedContainer(keyedBy: FuzzKey.self, forKey: FuzzKey("n"))
                try second.encode(2, forKey: FuzzKey("b"))
                try first.encode(3, forKey: FuzzKey("c"))
                var list = root.nestedUnkeyedContainer(forKey: FuzzKey("l"))
                try list.encode(1)
                var again = root.nestedUnkeyedContainer(forKey: FuzzKey("l"))
                try again.encode(2)
            })
        // and a nested container for a key that holds an encoded object or array extends it, as JSONEncoder does
        expectAgreement(
            Encoding { encoder in
                var root = encoder.container(keyedBy: FuzzKey.self)
                try root.encode(["a": 1], forKey: FuzzKey("n"))
                var nested = root.nestedContainer(keyedBy: FuzzKey.self, forKey: FuzzKey("n"))
                try nested.encode(2, forKey: FuzzKey("b"))
                try root.encode([[1]], forKey: FuzzKey("l"))
                var list = root.nestedUnkeyedContainer(forKey: FuzzKey("l"))
                try list.encode(2)
            })
        expectBolt(
            Encoding { encoder in
                var root = encoder.container(keyedBy: FuzzKey.self)
                try root.encode([1], forKey: FuzzKey("l"))
                var list = root.nestedUnkeyedContainer(forKey: FuzzKey("l"))
                try list.encode(2)
            }, is: #"{"l":[1,2]}"#)
    }

    @Test func aKeyEncodedTwiceKeepsItsLastValue() {
        expectAgreement(
            Encoding { encoder in
                var root = encoder.container(keyedBy: FuzzKey.self)
                try root.encode(1, forKey: FuzzKey("a"))
                try root.encode("two", forKey: FuzzKey("a"))
                var nested = root.nestedContainer(keyedBy: FuzzKey.self, forKey: FuzzKey("b"))
                try nested.encode(1, forKey: FuzzKey("x"))
                try root.encode([3], forKey: FuzzKey("b"))
                try nested.encode(2, forKey: FuzzKey("y"))  // detached, as in JSONEncoder
            })
    }

    @Test func encodesEmptyContainersAndNothing() {
        expectBolt(Encoding { encoder in _ = encoder.container(keyedBy: FuzzKey.self) }, is: "{}")
        expectBolt(Encoding { encoder in _ = encoder.unkeyedContainer() }, is: "[]")
        expectBolt([Encoding { _ in }], is: "[{}]")
        expectBolt(["k": Encoding { encoder in _ = encoder.singleValueContainer() }], is: #"{"k":{}}"#)
        expectBoltThrows(Encoding { _ in })  // JSONEncoder: "Top-level … did not encode any values."
        expectAgreement(Encoding { _ in })
        expectAgreement([[String: [Int]]]())
        expectAgreement(
            Encoding { encoder in
                var root = encoder.container(keyedBy: FuzzKey.self)
                _ = root.nestedUnkeyedContainer(forKey: FuzzKey("a"))
                _ = root.nestedContainer(keyedBy: FuzzKey.self, forKey: FuzzKey("b"))
                _ = root.superEncoder()
                _ = root.superEncoder(forKey: FuzzKey("c"))
            })
    }

    @Test func encodesTopLevelSingleValues() {
        expectBolt("text", is: #""text""#)
        expectBolt(Int8.min, is: "-128")
        expectBolt(UInt64.max, is: "18446744073709551615")
        expectBolt(true, is: "true")
        expectBolt(Int?.none, is: "null")
        expectBolt(-0.0, is: "-0")
        expectBolt(1.5 as Float, is: "1.5")
        for value: any Encodable in ["text", Int.min, UInt64.max, false, Int?.none, 0.1, -0.0, Float(1e-45), 1e300] {
            expectAgreement(value)
        }
        if #available(macOS 15.0, *) {
            expectBolt(Int128.min, is: "-170141183460469231731687303715884105728")
            expectAgreement([Int128.min, Int128.max])
            expectAgreement([UInt128.max])
        }
    }

    @Test func skipsNilWithEncodeIfPresentAndWritesNullOtherwise() {
        struct Optionals: Encodable {
            var skipped: Int? = nil
            var present: String? = "x"
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: FuzzKey.self)
                try c.encodeIfPresent(skipped, forKey: FuzzKey("skipped"))
                try c.encodeIfPresent(present, forKey: FuzzKey("present"))
                try c.encode(skipped, forKey: FuzzKey("null"))
                try c.encodeNil(forKey: FuzzKey("nil"))
            }
        }
        expectBolt(Optionals(), is: #"{"present":"x","null":null,"nil":null}"#)
        expectAgreement(Optionals())
        expectAgreement([Int?.none, 1])
    }

    @Test func refusesNonFiniteNumbersLikeJSONEncoder() {
        for value: any Encodable in [Double.nan, Double.infinity, -Float.infinity, [1, Double.nan], ["k": Float.nan]] {
            expectBoltThrows(value)
            expectAgreement(value)
        }
        // a caught throw leaves no trace: no key, no separator
        expectBolt(
            Encoding { encoder in
                var root = encoder.container(keyedBy: FuzzKey.self)
                try root.encode(1, forKey: FuzzKey("a"))
                try? root.encode(Double.nan, forKey: FuzzKey("b"))
                try? root.encode(
                    Encoding { encoder in
                        var inner = encoder.container(keyedBy: FuzzKey.self)
                        try inner.encode(1, forKey: FuzzKey("x"))
                        throw Boom()
                    }, forKey: FuzzKey("c"))
                var list = root.nestedUnkeyedContainer(forKey: FuzzKey("d"))
                try? list.encode(
                    Encoding { encoder in
                        var inner = encoder.unkeyedContainer()
                        try inner.encode(1)
                        throw Boom()
                    })
                try list.encode(2)
            }, is: #"{"a":1,"d":[2]}"#)
    }

    @Test func escapesStringsAsJSONEncoderDoesExceptTheSlash() {
        let nasty = "q\" b\\ s/ \u{0} \u{1f} \n\r\t\u{8}\u{c} \u{7f} é e\u{301} \u{2028} 😀 \u{10FFFF}"
        expectAgreement([nasty: nasty])
        // control characters escaped (short forms where JSON has them), the rest written as is
        let escaped = #"q\" b\\ s/ \u0000 \u001f \n\r\t\b\f "# + "\u{7f} é e\u{301} \u{2028} 😀 \u{10FFFF}"
        #expect(text(BoltJSON().encode(nasty)) == "\"" + escaped + "\"")
        #expect(text(BoltJSON().encode("a/b")) == #""a/b""#)  // JSONEncoder writes "a\/b": the same string
    }

    @Test func doublesRoundTrip() throws {
        let doubles: [Double] = [
            0, -0.0, 1, -1, 0.1, 1.0 / 3, 1e15, 1e15 - 1, 1e16, 9_007_199_254_740_992, 9_007_199_254_740_994,
            123456789012345.67,
            .leastNonzeroMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
            1e-7, 2.2250738585072014e-308, Double(bitPattern: 0x000F_FFFF_FFFF_FFFF), 1e21, 1e22, 4.35, 100, -100.5,
        ]
        let writer = BoltJSON()
        for double in doubles {
            guard case .success(let bytes) = writer.encode(double) else {
                Issue.record("\(double) threw")
                continue
            }
            let back = Double(String(decoding: bytes, as: UTF8.self))
            #expect(back?.bitPattern == double.bitPattern, "\(double) -> \(String(decoding: bytes, as: UTF8.self))")
        }
        expectAgreement(doubles)
        let floats: [Float] = [
            0, -0.0, 0.1, 16_777_216, 1e10, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 3.4e38,
        ]
        for float in floats {
            guard case .success(let bytes) = writer.encode(float) else { continue }
            #expect(Float(String(decoding: bytes, as: UTF8.self))?.bitPattern == float.bitPattern)
        }
        expectAgreement(floats)
    }

    @Test func superEncodersFillTheirSlots() {
        expectAgreement(
            Encoding { encoder in
                var list = encoder.unkeyedContainer()
                try list.encode(0)
                let first = list.superEncoder()
                try list.encode(2)
                var single = first.singleValueContainer()
                try single.encode("one")
                let second = list.superEncoder()  // two alive at once: placed as JSONEncoder places them
                try list.encode(4)
                var inner = second.unkeyedContainer()
                try inner.encode(3)
                _ = list.superEncoder()  // given nothing: {}
            })
        // two alive at once, each written in order, released first-in-first-out: JSONEncoder inserts each at the
        // index the array had when it was made, so the second lands before the element encoded between them
        expectAgreement(
            Encoding { encoder in
                var list = encoder.unkeyedContainer()
                var first: (any Encoder)? = list.superEncoder()
                do {
                    var single = first!.singleValueContainer()
                    try single.encode("first")
                }
                try list.encode(1)
                var second: (any Encoder)? = list.superEncoder()
                do {
                    var single = second!.singleValueContainer()
                    try single.encode("second")
                }
                try list.encode(2)
                first = nil
                second = nil
            })
        // a superEncoder's key set again before it is released: JSONEncoder keeps the super value
        expectAgreement(
            Encoding { encoder in
                var root = encoder.container(keyedBy: FuzzKey.self)
                let sup = root.superEncoder(forKey: FuzzKey("k"))
                try root.encode(1, forKey: FuzzKey("k"))
                var c = sup.container(keyedBy: FuzzKey.self)
                try c.encode(2, forKey: FuzzKey("s"))
            })
    }

    @Test func throwsWhereJSONEncoderTraps() {
        // a second kind of container, or a second single value, on one encoder
        expectBoltThrows(
            Encoding { encoder in
                _ = encoder.container(keyedBy: FuzzKey.self)
                _ = encoder.unkeyedContainer()
            })
        expectBoltThrows(
            Encoding { encoder in
                var single = encoder.singleValueContainer()
                try single.encode(1)
                try single.encode(2)
            })
        expectBoltThrows(
            Encoding { encoder in
                var single = encoder.singleValueContainer()
                try single.encode(1)
                var keyed = encoder.container(keyedBy: FuzzKey.self)
                try keyed.encode(1, forKey: FuzzKey("a"))
            })
        // a nested container for a key that holds another kind of value; swallowing the error does not help
        expectBoltThrows(
            Encoding { encoder in
                var root = encoder.container(keyedBy: FuzzKey.self)
                try root.encode(1, forKey: FuzzKey("a"))
                var nested = root.nestedContainer(keyedBy: FuzzKey.self, forKey: FuzzKey("a"))
                try? nested.encode(2, forKey: FuzzKey("b"))
            })
        expectBoltThrows(
            Encoding { encoder in
                var root = encoder.container(keyedBy: FuzzKey.self)
                _ = root.nestedContainer(keyedBy: FuzzKey.self, forKey: FuzzKey("a"))
                _ = root.nestedUnkeyedContainer(forKey: FuzzKey("a"))
            })
    }

    @Test func ignoresContainersUsedAfterTheirValueWasEncodedAsJSONEncoderDoes() {
        // not a legal use; neither encoder lets it change what was written
        final class Stash: @unchecked Sendable { var list: (any UnkeyedEncodingContainer)? }
        let stash = Stash()
        expectAgreement(
            Encoding { encoder in
                var root = encoder.unkeyedContainer()
                try root.encode(Encoding { encoder in stash.list = encoder.unkeyedContainer() })
                try stash.list?.encode(1)
                try root.encode(2)
            })
    }

    @Test func handlesObjectsWithManyKeys() {
        // enough keys open at once to grow the key table several times, then small encodes on the same writer
        let writer = BoltJSON()
        let big = Dictionary(uniqueKeysWithValues: (0..<3000).map { ("key \($0)", $0) })
        let repeated = Encoding { encoder in
            var root = encoder.container(keyedBy: FuzzKey.self)
            for i in 0..<200 { try root.encode(i, forKey: FuzzKey("k\(i)")) }
            var nested = root.nestedContainer(keyedBy: FuzzKey.self, forKey: FuzzKey("nested"))
            for i in 0..<100 { try nested.encode(i, forKey: FuzzKey("k\(i)")) }  // the parent's keys, another object
            try nested.encode(-1, forKey: FuzzKey("k50"))
            try root.encode("last", forKey: FuzzKey("k150"))  // after 300 keys: still caught
        }
        for value: any Encodable in [big, ["a": big, "b": big], repeated, ["x": 1], [repeated], "small"] {
            let bolt = writer.encode(value)
            if let difference = disagreement(bolt, foundationJSON(value)) {
                Issue.record(Comment(rawValue: difference))
            }
        }
    }

    @Test func keyTableFindsRepeatedKeysOfOpenObjects() {
        // the table against a model: objects opened and closed in stack order, keys from a small set, enough
        // keys open at once to grow it, and a reset between rounds
        var rng = FuzzRandom(state: 17)
        var table = JSONKeyTable()
        defer { table.free() }
        let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: 1 << 20)
        defer { bytes.deallocate() }
        for _ in 0..<20 {
            table.reset()
            var end = 0
            var open: [(id: Int, base: Int, keys: Set<String>)] = []
            var nextID = 1
            for _ in 0..<3000 {
                let roll = Int.random(in: 0..<100, using: &rng)
                if open.isEmpty || roll < 5 {
                    open.append((nextID, table.count, []))
                    nextID += 1
                } else if roll < 12 {
                    let closed = open.removeLast()
                    table.removeKeys(downTo: closed.base)
                } else {
                    let key = "key \(Int.random(in: 0..<(roll < 50 ? 8 : 400), using: &rng))"
                    let start = end
                    for byte in key.utf8 {
                        bytes[end] = byte
                        end += 1
                    }
                    let fresh = table.insert(object: open[open.count - 1].id, bytes, start, end)
                    #expect(fresh == !open[open.count - 1].keys.contains(key))
                    open[open.count - 1].keys.insert(key)
                }
            }
        }
    }

    @Test func limitsNestingAsJSONEncoderDoes() {
        func nested(_ depth: Int) -> Encoding {
            Encoding { encoder in
                var container = encoder.unkeyedContainer()
                for _ in 1..<depth { container = container.nestedUnkeyedContainer() }
            }
        }
        expectAgreement(nested(511))
        expectBoltThrows(nested(512))
        expectAgreement(nested(512))
        // the same through the tree (the value is redone: it uses a container out of order), inside try?:
        // JSONEncoder finds the depth only when it writes, so no encode(to:) can catch it
        func redone(_ depth: Int) -> Encoding {
            Encoding { encoder in
                var outer = encoder.unkeyedContainer()
                try? outer.encode(
                    Encoding { encoder in
                        var root = encoder.container(keyedBy: FuzzKey.self)
                        var list = root.nestedUnkeyedContainer(forKey: FuzzKey("deep"))
                        try root.encode(1, forKey: FuzzKey("after"))
                        for _ in 3..<depth { list = list.nestedUnkeyedContainer() }
                    })
            }
        }
        expectAgreement(redone(511))
        expectBoltThrows(redone(512))
        expectAgreement(redone(512))
    }

    // MARK: differential fuzz

    @Test func agreesWithJSONEncoderOnRandomContainerScripts() throws {
        var generator = ScriptGenerator(seed: 0x5EED_0017)
        let bolt = BoltJSON()
        var failures = 0
        var run = 0
        var redone = 0
        var illegal = 0
        var thrown = 0
        let cases = 5000
        for index in 0..<cases {
            run += 1
            let (script, isIllegal) = generator.topLevelScript()
            let tally = script.tally
            tally.calls = 0
            let boltResult = bolt.encode(script)
            let boltCalls = tally.calls
            if isIllegal {
                illegal += 1
                if case .success = boltResult {
                    failures += 1
                    Issue.record("case \(index): an illegal script encoded as \(text(boltResult))\n\(script)")
                }
                continue
            }
            tally.calls = 0
            let foundationResult = foundationJSON(script)
            if boltCalls > tally.calls { redone += 1 }
            if case .failure = foundationResult { thrown += 1 }
            if let difference = disagreement(boltResult, foundationResult) {
                failures += 1
                Issue.record("case \(index):\n\(difference)\n\(script)")
            }
            if failures >= 5 { break }
        }
        print(
            "JSONEncoderFuzzTests: \(run) scripts, \(redone) redone as a tree, \(thrown) thrown by both, \(illegal) illegal (Bolt threw)"
        )
        #expect(redone > cases / 10, "the fuzz should exercise the tree fallback")
        #expect(illegal > 0 && thrown > 0)
    }
}

// MARK: - random container scripts

/// Counts `encode(to:)` calls, to see which encodes were redone as a tree.
private final class Tally {
    var calls = 0
}

/// A value to encode through a container's own overload for its type, or through `encode<T>`.
private indirect enum ScriptValue {
    case null
    case bool(Bool)
    case string(String)
    case int(Int)
    case int8(Int8)
    case int16(Int16)
    case int32(Int32)
    case int64(Int64)
    case uint(UInt)
    case uint8(UInt8)
    case uint16(UInt16)
    case uint32(UInt32)
    case uint64(UInt64)
    case int128(high: Int64, low: UInt64)
    case uint128(high: UInt64, low: UInt64)
    case float(Float)
    case double(Double)
    /// A nested script, through `encode<T>`.
    case nested(Script)
    /// A primitive through `encode<T>` of a type that encodes it through its single value container.
    case boxed(ScriptValue)
    case optional(Int?)
    /// Arrays JSONEncoder writes directly.
    case ints([Int])
    case strings([String])
    case doubles([Double])
}

private struct Boxed: Encodable {
    let value: ScriptValue
    func encode(to encoder: any Encoder) throws {
        var single = encoder.singleValueContainer()
        try single.put(value)
    }
}

private enum ScriptOp {
    /// `encoder.container(keyedBy:)` on encoder handle `enc`; a new keyed handle.
    case keyed(enc: Int)
    /// `encoder.unkeyedContainer()`; a new unkeyed handle.
    case unkeyed(enc: Int)
    /// `encoder.singleValueContainer().encode(value)`.
    case single(enc: Int, ScriptValue)
    /// Encodes into keyed (with `key`) or unkeyed handle `handle`.
    case put(Int, key: String?, ScriptValue)
    /// The same under `try?`.
    case attempt(Int, key: String?, ScriptValue)
    case ifPresent(Int, key: String, Int?)
    case nestedKeyed(Int, key: String?)
    case nestedUnkeyed(Int, key: String?)
    /// `superEncoder(forKey:)`, `superEncoder()` (key nil) or an unkeyed container's `superEncoder()`.
    case superEncoder(Int, key: String?)
    case release(Int)
}

/// An `Encodable` whose `encode(to:)` replays a script of container operations on numbered handles, then
/// releases the handles last first (JSONEncoder places a superEncoder's value when it is released).
private struct Script: Encodable, CustomStringConvertible {
    var ops: [ScriptOp]
    let tally: Tally

    enum Handle {
        case encoder(any Encoder)
        case keyed(KeyedEncodingContainer<FuzzKey>)
        case unkeyed(any UnkeyedEncodingContainer)
    }

    var description: String {
        "Script("
            + ops.map { "\($0)".replacingOccurrences(of: "BoltTests.ScriptValue.", with: "") }.joined(separator: "; ")
            + ")"
    }

    func encode(to encoder: any Encoder) throws {
        tally.calls += 1
        var handles: [Handle?] = [.encoder(encoder)]
        for op in ops { try Self.play(op, &handles) }
        while !handles.isEmpty { handles.removeLast() }
    }

    private static func play(_ op: ScriptOp, _ handles: inout [Handle?]) throws {
        switch op {
        case .keyed(let enc):
            guard case .encoder(let encoder)? = handles[enc] else { return }
            handles.append(.keyed(encoder.container(keyedBy: FuzzKey.self)))
        case .unkeyed(let enc):
            guard case .encoder(let encoder)? = handles[enc] else { return }
            handles.append(.unkeyed(encoder.unkeyedContainer()))
        case .single(let enc, let value):
            guard case .encoder(let encoder)? = handles[enc] else { return }
            var single = encoder.singleValueContainer()
            try single.put(value)
        case .put(let handle, let key, let value):
            try put(value, handle, key, &handles)
        case .attempt(let handle, let key, let value):
            try? put(value, handle, key, &handles)
        case .ifPresent(let handle, let key, let value):
            guard case .keyed(var keyed)? = handles[handle] else { return }
            try keyed.encodeIfPresent(value, forKey: FuzzKey(key))
            handles[handle] = .keyed(keyed)
        case .nestedKeyed(let handle, let key):
            switch handles[handle] {
            case .keyed(var keyed)?:
                let nested = keyed.nestedContainer(keyedBy: FuzzKey.self, forKey: FuzzKey(key ?? ""))
                handles[handle] = .keyed(keyed)
                handles.append(.keyed(nested))
            case .unkeyed(var unkeyed)?:
                let nested = unkeyed.nestedContainer(keyedBy: FuzzKey.self)
                handles[handle] = .unkeyed(unkeyed)
                handles.append(.keyed(nested))
            default: return
            }
        case .nestedUnkeyed(let handle, let key):
            switch handles[handle] {
            case .keyed(var keyed)?:
                let nested = keyed.nestedUnkeyedContainer(forKey: FuzzKey(key ?? ""))
                handles[handle] = .keyed(keyed)
                handles.append(.unkeyed(nested))
            case .unkeyed(var unkeyed)?:
                let nested = unkeyed.nestedUnkeyedContainer()
                handles[handle] = .unkeyed(unkeyed)
                handles.append(.unkeyed(nested))
            default: return
            }
        case .superEncoder(let handle, let key):
            switch handles[handle] {
            case .keyed(var keyed)?:
                let sup = key.map { keyed.superEncoder(forKey: FuzzKey($0)) } ?? keyed.superEncoder()
                handles[handle] = .keyed(keyed)
                handles.append(.encoder(sup))
            case .unkeyed(var unkeyed)?:
                let sup = unkeyed.superEncoder()
                handles[handle] = .unkeyed(unkeyed)
                handles.append(.encoder(sup))
            default: return
            }
        case .release(let handle):
            handles[handle] = nil
        }
    }

    private static func put(_ value: ScriptValue, _ handle: Int, _ key: String?, _ handles: inout [Handle?]) throws {
        switch handles[handle] {
        case .keyed(var keyed)?:
            defer { handles[handle] = .keyed(keyed) }
            try keyed.put(value, forKey: FuzzKey(key ?? ""))
        case .unkeyed(var unkeyed)?:
            defer { handles[handle] = .unkeyed(unkeyed) }
            try unkeyed.put(value)
        default:
            return
        }
    }
}

extension ScriptValue {
    @available(macOS 15.0, *)
    fileprivate var int128: Int128? {
        if case .int128(let high, let low) = self { return Int128(high) << 64 | Int128(low) }
        return nil
    }

    @available(macOS 15.0, *)
    fileprivate var uint128: UInt128? {
        if case .uint128(let high, let low) = self { return UInt128(high) << 64 | UInt128(low) }
        return nil
    }
}

extension KeyedEncodingContainer<FuzzKey> {
    fileprivate mutating func put(_ value: ScriptValue, forKey key: FuzzKey) throws {
        switch value {
        case .null: try encodeNil(forKey: key)
        case .bool(let v): try encode(v, forKey: key)
        case .string(let v): try encode(v, forKey: key)
        case .int(let v): try encode(v, forKey: key)
        case .int8(let v): try encode(v, forKey: key)
        case .int16(let v): try encode(v, forKey: key)
        case .int32(let v): try encode(v, forKey: key)
        case .int64(let v): try encode(v, forKey: key)
        case .uint(let v): try encode(v, forKey: key)
        case .uint8(let v): try encode(v, forKey: key)
        case .uint16(let v): try encode(v, forKey: key)
        case .uint32(let v): try encode(v, forKey: key)
        case .uint64(let v): try encode(v, forKey: key)
        case .int128, .uint128:
            if #available(macOS 15.0, *) {
                if let v = value.int128 { try encode(v, forKey: key) } else { try encode(value.uint128!, forKey: key) }
            }
        case .float(let v): try encode(v, forKey: key)
        case .double(let v): try encode(v, forKey: key)
        case .nested(let script): try encode(script, forKey: key)
        case .boxed(let inner): try encode(Boxed(value: inner), forKey: key)
        case .optional(let v): try encode(v, forKey: key)
        case .ints(let v): try encode(v, forKey: key)
        case .strings(let v): try encode(v, forKey: key)
        case .doubles(let v): try encode(v, forKey: key)
        }
    }
}

extension UnkeyedEncodingContainer {
    fileprivate mutating func put(_ value: ScriptValue) throws {
        switch value {
        case .null: try encodeNil()
        case .bool(let v): try encode(v)
        case .string(let v): try encode(v)
        case .int(let v): try encode(v)
        case .int8(let v): try encode(v)
        case .int16(let v): try encode(v)
        case .int32(let v): try encode(v)
        case .int64(let v): try encode(v)
        case .uint(let v): try encode(v)
        case .uint8(let v): try encode(v)
        case .uint16(let v): try encode(v)
        case .uint32(let v): try encode(v)
        case .uint64(let v): try encode(v)
        case .int128, .uint128:
            if #available(macOS 15.0, *) {
                if let v = value.int128 { try encode(v) } else { try encode(value.uint128!) }
            }
        case .float(let v): try encode(v)
        case .double(let v): try encode(v)
        case .nested(let script): try encode(script)
        case .boxed(let inner): try encode(Boxed(value: inner))
        case .optional(let v): try encode(v)
        case .ints(let v): try encode(v)
        case .strings(let v): try encode(v)
        case .doubles(let v): try encode(v)
        }
    }
}

extension SingleValueEncodingContainer {
    fileprivate mutating func put(_ value: ScriptValue) throws {
        switch value {
        case .null: try encodeNil()
        case .bool(let v): try encode(v)
        case .string(let v): try encode(v)
        case .int(let v): try encode(v)
        case .int8(let v): try encode(v)
        case .int16(let v): try encode(v)
        case .int32(let v): try encode(v)
        case .int64(let v): try encode(v)
        case .uint(let v): try encode(v)
        case .uint8(let v): try encode(v)
        case .uint16(let v): try encode(v)
        case .uint32(let v): try encode(v)
        case .uint64(let v): try encode(v)
        case .int128, .uint128:
            if #available(macOS 15.0, *) {
                if let v = value.int128 { try encode(v) } else { try encode(value.uint128!) }
            }
        case .float(let v): try encode(v)
        case .double(let v): try encode(v)
        case .nested(let script): try encode(script)
        case .boxed(let inner): try encode(Boxed(value: inner))
        case .optional(let v): try encode(v)
        case .ints(let v): try encode(v)
        case .strings(let v): try encode(v)
        case .doubles(let v): try encode(v)
        }
    }
}

/// SplitMix64, a small seeded generator, so every run fuzzes the same cases.
private struct FuzzRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Makes random scripts, and follows what JSONEncoder would hold (which key holds what kind of value, which
/// encoder has which container, when a superEncoder is released) so that it makes only scripts JSONEncoder
/// accepts without trapping — except in a few, marked illegal, that end with one such operation (Bolt must throw).
private struct ScriptGenerator {
    var rng: FuzzRandom
    let tally = Tally()

    init(seed: UInt64) { rng = FuzzRandom(state: seed) }

    /// What a key holds, as far as trapping goes.
    indirect enum Kind {
        case object(Object)
        case array
        /// An `[Int]`-like array JSONEncoder wrote directly: it traps on a nested unkeyed container for it.
        case direct
        case other
    }

    final class Object {
        var keys: [String: Kind] = [:]
    }

    final class ModelEncoder {
        enum State {
            case empty
            case keyed(Object)
            case unkeyed
            case single(Kind)
        }
        var state = State.empty
        var references = 1
        let parent: ModelEncoder?
        /// Where a keyed superEncoder's value goes when it is released.
        let slot: (Object, String)?

        init(parent: ModelEncoder?, slot: (Object, String)?) {
            self.parent = parent
            self.slot = slot
        }

        var result: Kind {
            switch state {
            case .empty: .object(Object())
            case .keyed(let object): .object(object)
            case .unkeyed: .array
            case .single(let kind): kind
            }
        }
    }

    enum ModelHandle {
        case encoder(ModelEncoder)
        case keyed(Object, ModelEncoder)
        case unkeyed(ModelEncoder)

        var encoder: ModelEncoder {
            switch self {
            case .encoder(let e), .keyed(_, let e), .unkeyed(let e): e
            }
        }
    }

    static let keys = ["a", "b", "c", "super", "k\"q", "k\\/", "é", "\u{1}", "", "😀"]
    static let stringPieces = [
        "", "a", "xyz", " ", "\"", "\\", "/", "\u{0}", "\u{1f}", "\n", "\t", "\r", "\u{8}", "\u{c}", "\u{7f}", "é",
        "e\u{301}", "\u{2028}", "😀", "中文", "\u{FFFF}", "\u{10FFFF}", "{", "]", ",", ":", "\\u0041",
    ]

    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
    mutating func pick<T>(_ items: [T]) -> T { items.randomElement(using: &rng)! }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }

    mutating func topLevelScript() -> (Script, illegal: Bool) {
        let allowIllegal = chance(0.04)
        let (script, _, illegal) = makeScript(depth: 0, allowIllegal: allowIllegal)
        return (script, illegal)
    }

    mutating func string() -> String {
        (0..<int(0...5)).map { _ in pick(Self.stringPieces) }.joined()
    }

    mutating func double(finite: Bool = true) -> Double {
        if !finite { return pick([.nan, .infinity, -.infinity]) }
        switch int(0...9) {
        case 0: return pick([0, -0.0, 1, -1, 0.5, 0.1, 1e15, 1e15 - 1, 1e16, 9_007_199_254_740_992, 123456789012345.0])
        case 1:
            return pick([
                .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                1e-300, 1e300, 1e21,
            ])
        case 2, 3: return Double(int(-1_000_000...1_000_000))
        case 4, 5: return Double.random(in: -1000...1000, using: &rng)
        default:
            while true {
                let value = Double(bitPattern: rng.next())
                if value.isFinite { return value }
            }
        }
    }

    mutating func float(finite: Bool = true) -> Float {
        if !finite { return pick([.nan, .infinity, -.infinity]) }
        switch int(0...5) {
        case 0:
            return pick([0, -0.0, 0.1, 16_777_216, 1e10, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -3.4e38])
        case 1, 2: return Float(int(-100_000...100_000))
        default:
            while true {
                let value = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
                if value.isFinite { return value }
            }
        }
    }

    /// A primitive value (its kind is `.other`); non-finite numbers only if asked.
    mutating func primitive(nonFinite: Bool = false) -> ScriptValue {
        if nonFinite { return chance(0.5) ? .double(double(finite: false)) : .float(float(finite: false)) }
        switch int(0...18) {
        case 0: return .null
        case 1: return .bool(chance(0.5))
        case 2, 3: return .string(string())
        case 4: return .int(pick([Int.min, Int.max, 0, int(-1000...1000)]))
        case 5: return .int8(pick([Int8.min, Int8.max, 0, -1]))
        case 6: return .int16(pick([Int16.min, Int16.max, 7]))
        case 7: return .int32(pick([Int32.min, Int32.max, -7]))
        case 8: return .int64(pick([Int64.min, Int64.max, Int64(bitPattern: rng.next())]))
        case 9: return .uint(pick([UInt.max, 0, UInt(rng.next())]))
        case 10: return .uint8(pick([UInt8.max, 0]))
        case 11: return .uint16(pick([UInt16.max, 1]))
        case 12: return .uint32(pick([UInt32.max, 2]))
        case 13: return .uint64(pick([UInt64.max, 0, rng.next()]))
        case 14:
            return chance(0.5)
                ? .int128(high: pick([Int64.min, Int64.max, -1, 0]), low: pick([0, UInt64.max, rng.next()]))
                : .uint128(high: pick([UInt64.max, 0, rng.next()]), low: pick([0, UInt64.max, rng.next()]))
        case 15: return .float(float())
        default: return .double(double())
        }
    }

    /// A value for a container, with the kind it leaves in JSONEncoder's model.
    mutating func makeValue(depth: Int, allowIllegal: Bool) -> (ScriptValue, Kind, illegal: Bool) {
        switch int(0...19) {
        case 0...3 where depth < 4:
            let (script, kind, illegal) = makeScript(depth: depth + 1, allowIllegal: allowIllegal)
            return (.nested(script), kind, illegal)
        case 4:
            return (.boxed(primitive()), .other, false)
        case 5:
            return (.optional(chance(0.5) ? nil : int(-5...5)), .other, false)
        case 6:
            switch int(0...2) {
            case 0: return (.ints((0..<int(0...3)).map { _ in int(-9...9) }), .direct, false)
            case 1: return (.strings((0..<int(0...3)).map { _ in string() }), .direct, false)
            default: return (.doubles((0..<int(0...3)).map { _ in double() }), .direct, false)
            }
        default:
            // rarely a non-finite number outside try?: both encoders throw
            return (primitive(nonFinite: chance(0.003)), .other, false)
        }
    }

    /// A script, the kind of value it encodes to, and whether it (or a value in it) does something illegal.
    mutating func makeScript(depth: Int, allowIllegal: Bool) -> (Script, Kind, illegal: Bool) {
        let main = ModelEncoder(parent: nil, slot: nil)
        var handles: [ModelHandle?] = [.encoder(main)]
        var ops: [ScriptOp] = []
        var illegal = false
        let length = int(0...(depth == 0 ? 14 : 8))

        func release(_ index: Int) {
            guard let handle = handles[index] else { return }
            handles[index] = nil
            var encoder: ModelEncoder? = handle.encoder
            while let current = encoder {
                current.references -= 1
                guard current.references == 0 else { break }
                if let (object, key) = current.slot { object.keys[key] = current.result }
                encoder = current.parent
            }
        }

        for _ in 0..<length where !illegal {
            let live = handles.indices.filter { handles[$0] != nil }
            let index = pick(live)
            if index != 0 && chance(0.15) {
                ops.append(.release(index))
                release(index)
                continue
            }
            switch handles[index]! {
            case .encoder(let encoder):
                let choice = int(0...2)
                switch (choice, encoder.state) {
                case (0, .empty), (0, .keyed):
                    let object: Object
                    if case .keyed(let existing) = encoder.state { object = existing } else { object = Object() }
                    encoder.state = .keyed(object)
                    encoder.references += 1
                    ops.append(.keyed(enc: index))
                    handles.append(.keyed(object, encoder))
                case (1, .empty), (1, .unkeyed):
                    encoder.state = .unkeyed
                    encoder.references += 1
                    ops.append(.unkeyed(enc: index))
                    handles.append(.unkeyed(encoder))
                case (2, .empty):
                    let (value, kind, valueIllegal) = makeValue(depth: depth, allowIllegal: allowIllegal)
                    encoder.state = .single(kind)
                    ops.append(.single(enc: index, value))
                    illegal = valueIllegal
                default:
                    // a second kind of container, or a second single value
                    guard allowIllegal else { continue }
                    switch choice {
                    case 0: ops.append(.keyed(enc: index))
                    case 1: ops.append(.unkeyed(enc: index))
                    default: ops.append(.single(enc: index, primitive()))
                    }
                    illegal = true
                }
            case .keyed(let object, let encoder):
                let key = chance(0.5) ? pick(["a", "b"]) : pick(Self.keys)
                switch int(0...19) {
                case 0...9:
                    let (value, kind, valueIllegal) = makeValue(depth: depth, allowIllegal: allowIllegal)
                    ops.append(.put(index, key: key, value))
                    object.keys[key] = kind
                    illegal = valueIllegal
                case 10:
                    // (only through the containers' own overloads: JSONEncoder 6.3.1 keeps stale state after a
                    // nested value's throw is swallowed, swift-foundation#1852)
                    ops.append(.attempt(index, key: key, primitive(nonFinite: true)))
                case 11:
                    let value: Int? = chance(0.5) ? nil : int(0...9)
                    ops.append(.ifPresent(index, key: key, value))
                    if value != nil { object.keys[key] = .other }
                case 12...14:
                    let nested: Object
                    switch object.keys[key] {
                    case .object(let existing)?: nested = existing
                    case nil:
                        nested = Object()
                        object.keys[key] = .object(nested)
                    default:
                        guard allowIllegal else { continue }
                        ops.append(.nestedKeyed(index, key: key))
                        illegal = true
                        continue
                    }
                    ops.append(.nestedKeyed(index, key: key))
                    encoder.references += 1
                    handles.append(.keyed(nested, encoder))
                case 15...17:
                    switch object.keys[key] {
                    case .array?: break
                    case nil: object.keys[key] = .array
                    case .direct?: continue  // JSONEncoder traps, Bolt extends the array
                    default:
                        guard allowIllegal else { continue }
                        ops.append(.nestedUnkeyed(index, key: key))
                        illegal = true
                        continue
                    }
                    ops.append(.nestedUnkeyed(index, key: key))
                    encoder.references += 1
                    handles.append(.unkeyed(encoder))
                default:
                    let superKey: String? = chance(0.3) ? nil : key
                    ops.append(.superEncoder(index, key: superKey))
                    encoder.references += 1
                    handles.append(.encoder(ModelEncoder(parent: encoder, slot: (object, superKey ?? "super"))))
                }
            case .unkeyed(let encoder):
                switch int(0...13) {
                case 0...6:
                    let (value, _, valueIllegal) = makeValue(depth: depth, allowIllegal: allowIllegal)
                    ops.append(.put(index, key: nil, value))
                    illegal = valueIllegal
                case 7:
                    ops.append(.attempt(index, key: nil, primitive(nonFinite: true)))
                case 8, 9:
                    ops.append(.nestedKeyed(index, key: nil))
                    encoder.references += 1
                    handles.append(.keyed(Object(), encoder))
                case 10, 11:
                    ops.append(.nestedUnkeyed(index, key: nil))
                    encoder.references += 1
                    handles.append(.unkeyed(encoder))
                default:
                    ops.append(.superEncoder(index, key: nil))
                    encoder.references += 1
                    handles.append(.encoder(ModelEncoder(parent: encoder, slot: nil)))
                }
            }
        }
        for index in handles.indices.reversed() { release(index) }
        return (Script(ops: ops, tally: tally), main.result, illegal)
    }
}
