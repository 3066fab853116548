// Tests of the precomputed protocol tables (sw_tables.h): status lines, IMF-fixdate.
// The expected values are written out here independently of scripts/gen_tables.py, so a wrong table entry
// fails here rather than being copied into the test.

import CShockwave
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The IANA HTTP Status Code Registry (2024) less its "(Unused)" entries 306 and 418.
private let registered: [(code: Int32, reason: String)] = [
    (100, "Continue"), (101, "Switching Protocols"), (102, "Processing"), (103, "Early Hints"),
    (200, "OK"), (201, "Created"), (202, "Accepted"), (203, "Non-Authoritative Information"), (204, "No Content"),
    (205, "Reset Content"), (206, "Partial Content"), (207, "Multi-Status"), (208, "Already Reported"),
    (226, "IM Used"),
    (300, "Multiple Choices"), (301, "Moved Permanently"), (302, "Found"), (303, "See Other"), (304, "Not Modified"),
    (305, "Use Proxy"), (307, "Temporary Redirect"), (308, "Permanent Redirect"),
    (400, "Bad Request"), (401, "Unauthorized"), (402, "Payment Required"), (403, "Forbidden"), (404, "Not Found"),
    (405, "Method Not Allowed"), (406, "Not Acceptable"), (407, "Proxy Authentication Required"),
    (408, "Request Timeout"), (409, "Conflict"), (410, "Gone"), (411, "Length Required"),
    (412, "Precondition Failed"), (413, "Content Too Large"), (414, "URI Too Long"), (415, "Unsupported Media Type"),
    (416, "Range Not Satisfiable"), (417, "Expectation Failed"), (421, "Misdirected Request"),
    (422, "Unprocessable Content"), (423, "Locked"), (424, "Failed Dependency"), (425, "Too Early"),
    (426, "Upgrade Required"), (428, "Precondition Required"), (429, "Too Many Requests"),
    (431, "Request Header Fields Too Large"), (451, "Unavailable For Legal Reasons"),
    (500, "Internal Server Error"), (501, "Not Implemented"), (502, "Bad Gateway"), (503, "Service Unavailable"),
    (504, "Gateway Timeout"), (505, "HTTP Version Not Supported"), (506, "Variant Also Negotiates"),
    (507, "Insufficient Storage"), (508, "Loop Detected"), (510, "Not Extended"),
    (511, "Network Authentication Required"),
]
private let registeredCodes = Set(registered.map(\.code))

/// SplitMix64: a fixed seed makes every run check the same "random" cases.
private struct SplitMix64 {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private func statusLine(_ code: Int32) -> (line: [UInt8]?, len: Int) {
    var len = -1
    guard let p = sw_status_line(code, &len) else { return (nil, len) }
    return (Array(UnsafeRawBufferPointer(start: p, count: len)), len)
}

/// Calls sw_write_status_line on a buffer of exactly SW_STATUS_LINE_MAX bytes followed by canaries, and checks
/// that nothing past the returned length was written.
private func writtenStatusLine(_ code: Int32, minor: Int32) -> String? {
    var buf = [CChar](repeating: 0x55, count: Int(SW_STATUS_LINE_MAX) + 16)
    let n = buf.withUnsafeMutableBufferPointer { sw_write_status_line($0.baseAddress, code, minor) }
    #expect(n <= Int(SW_STATUS_LINE_MAX))
    #expect(buf[n...].allSatisfy { $0 == 0x55 }, "wrote past the line for \(code)")
    return n == 0 ? nil : String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

private func imfFixdate(_ t: Int64) -> String? {
    var out = [CChar](repeating: 0x55, count: Int(SW_IMF_FIXDATE_LEN) + 8)
    let n = out.withUnsafeMutableBufferPointer { sw_format_imf_fixdate(t, $0.baseAddress) }
    #expect(out[Int(SW_IMF_FIXDATE_LEN)...].allSatisfy { $0 == 0x55 }, "wrote past 29 bytes for \(t)")
    if n == 0 {
        #expect(out.allSatisfy { $0 == 0x55 }, "wrote output for out-of-range \(t)")
        return nil
    }
    #expect(n == Int(SW_IMF_FIXDATE_LEN))
    return String(decoding: out[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// glibc's answer for the same second, as an independent reference.
private func gmtimeReference(_ t: Int64) -> String {
    var tt = time_t(t)
    var parts = tm()
    #expect(gmtime_r(&tt, &parts) != nil)
    var buf = [CChar](repeating: 0, count: 64)
    let n = strftime(&buf, buf.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
    return String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

@Suite struct TablesTests {
    // MARK: status lines

    @Test func everyRegisteredCodeHasItsIANAStatusLine() {
        for (code, reason) in registered {
            let want = "HTTP/1.1 \(code) \(reason)\r\n"
            let (line, len) = statusLine(code)
            #expect(line == Array(want.utf8), "sw_status_line(\(code))")
            #expect(len == want.utf8.count)
            #expect(String(cString: sw_reason_phrase(code)) == reason)
            #expect(writtenStatusLine(code, minor: 1) == want)
        }
    }

    @Test func rejectsUnregisteredStatusCodes() {
        #expect(!registeredCodes.contains(418) && !registeredCodes.contains(306) && !registeredCodes.contains(104))
        for code in Int32(100)...599 where !registeredCodes.contains(code) {
            let (line, len) = statusLine(code)
            #expect(line == nil && len == 0, "sw_status_line(\(code))")
            #expect(String(cString: sw_reason_phrase(code)) == "")
        }
    }

    @Test func writesDigitsAndAnEmptyReasonForUnregisteredCodes() {
        for code in Int32(100)...999 where !registeredCodes.contains(code) {
            #expect(writtenStatusLine(code, minor: 1) == "HTTP/1.1 \(code) \r\n")
        }
    }

    @Test func writesHTTP10WhenMinorIsZero() {
        for code in Int32(100)...999 {
            let reason = registered.first { $0.code == code }?.reason ?? ""
            #expect(writtenStatusLine(code, minor: 0) == "HTTP/1.0 \(code) \(reason)\r\n")
            #expect(writtenStatusLine(code, minor: 9) == "HTTP/1.1 \(code) \(reason)\r\n")
        }
    }

    @Test func refusesStatusCodesOutsideTheirRange() {
        for code: Int32 in [.min, -200, -1, 0, 1, 10, 99, 600, 999, 1000, 1200, 65636, .max] {
            let (line, len) = statusLine(code)
            #expect(line == nil && len == 0, "sw_status_line(\(code))")
            #expect(String(cString: sw_reason_phrase(code)) == "")
        }
        for code: Int32 in [.min, -100, -1, 0, 99, 1000, 1100, 4294, .max] {
            #expect(writtenStatusLine(code, minor: 1) == nil, "sw_write_status_line(\(code))")
            #expect(writtenStatusLine(code, minor: 0) == nil)
        }
    }

    // MARK: IMF-fixdate

    @Test func formatsKnownIMFFixdates() {
        let known: [(Int64, String)] = [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (31_536_000, "Fri, 01 Jan 1971 00:00:00 GMT"),
            (94_694_399, "Sun, 31 Dec 1972 23:59:59 GMT"),  // end of the first leap year
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),  // RFC 9110's example
            (946_684_799, "Fri, 31 Dec 1999 23:59:59 GMT"),
            (946_684_800, "Sat, 01 Jan 2000 00:00:00 GMT"),
            (951_782_399, "Mon, 28 Feb 2000 23:59:59 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),  // 2000 is a leap year (divisible by 400)
            (951_827_696, "Tue, 29 Feb 2000 12:34:56 GMT"),
            (951_868_800, "Wed, 01 Mar 2000 00:00:00 GMT"),
            (1_000_000_000, "Sun, 09 Sep 2001 01:46:40 GMT"),
            (1_709_164_800, "Thu, 29 Feb 2024 00:00:00 GMT"),
            (2_147_483_647, "Tue, 19 Jan 2038 03:14:07 GMT"),  // the last 32-bit second
            (2_147_483_648, "Tue, 19 Jan 2038 03:14:08 GMT"),
            (4_107_542_399, "Sun, 28 Feb 2100 23:59:59 GMT"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),  // 2100 is not a leap year
            (13_574_563_200, "Tue, 29 Feb 2400 00:00:00 GMT"),
            (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),  // the last second in range
        ]
        for (t, want) in known {
            #expect(imfFixdate(t) == want, "\(t)")
        }
    }

    @Test func refusesTimesOutsideYears1970To9999() {
        for t: Int64 in [.min, -253_402_300_799, -86400, -1, 253_402_300_800, 253_402_300_800 + 86400, .max] {
            #expect(imfFixdate(t) == nil, "\(t)")
        }
    }

    @Test func agreesWithGmtimeOnEveryDayOfAFullGregorianCycle() {
        // 1970...2400 holds a whole 400-year cycle; one second per day, at a different time of day each day.
        var rng = SplitMix64(state: 1)
        let days = Int64(13_574_563_200 / 86400) + 400
        for day in 0...days {
            let t = day * 86400 + Int64(rng.next() % 86400)
            let got = imfFixdate(t)
            if got != gmtimeReference(t) {
                Issue.record("\(t): \(got ?? "nil") != \(gmtimeReference(t))")
                return
            }
        }
    }

    @Test func agreesWithGmtimeOnRandomTimes() {
        var rng = SplitMix64(state: 2)
        for _ in 0..<100_000 {
            let t = Int64(rng.next() % 253_402_300_800)
            let got = imfFixdate(t)
            if got != gmtimeReference(t) {
                Issue.record("\(t): \(got ?? "nil") != \(gmtimeReference(t))")
                return
            }
        }
    }
}
