extension ByteView {
    /// The bytes percent-decoded into a new `String`, by the rule for paths (RFC 3986):
    ///
    /// - `%` and two hex digits, in either case, is the byte they spell (`%2F` is `/`, `%C3%A9` is `é`);
    /// - a `%` not followed by two hex digits is kept as it is (`100%` stays `100%`);
    /// - `+` is a plus, not a space (that is the query's form encoding);
    /// - decoded bytes that are not valid UTF-8 become U+FFFD.
    ///
    /// Decodes straight into the string's storage; returns ``string`` when there is no `%`.
    public var percentDecodedString: String {
        withUnsafeBytes { encoded in
            guard encoded.contains(UInt8(ascii: "%")) else { return String(decoding: encoded, as: UTF8.self) }
            return String(unsafeUninitializedCapacity: encoded.count) { decoded in
                var read = 0
                var written = 0
                while read < encoded.count {
                    if encoded[read] == UInt8(ascii: "%") && read + 2 < encoded.count,
                        let high = hexValue(encoded[read + 1]), let low = hexValue(encoded[read + 2])
                    {
                        decoded[written] = high << 4 | low
                        read += 3
                    } else {
                        decoded[written] = encoded[read]
                        read += 1
                    }
                    written += 1
                }
                return written
            }
        }
    }
}

/// The value of an ASCII hex digit, or `nil`.
func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
