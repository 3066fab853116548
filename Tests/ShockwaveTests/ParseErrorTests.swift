import Testing

@testable import Shockwave

@Suite struct ParseErrorTests {
    @Test func mapsEveryParserErrorToAStatusNameAndMessage() throws {
        // -2 ... -36 are the SW_E_* codes of sw_parse.h; each must have a real status and text.
        for code in Int32(-36)...Int32(-2) {
            let error = try #require(HTTPParseError(code: code))
            #expect([400, 413, 414, 417, 431, 501, 502, 505].contains(error.status), "\(code)")
            #expect(!error.name.isEmpty && error.name != "UNKNOWN", "\(code)")
            #expect(error.message.count > 10, "\(code)")
        }
    }

    @Test func refusesCodesThatAreNotErrors() {
        #expect(HTTPParseError(code: 0) == nil)
        #expect(HTTPParseError(code: 120) == nil)
        #expect(HTTPParseError(code: -1) == nil)  // incomplete is not an error
    }

    @Test func describesItselfWithStatusAndName() throws {
        let error = try #require(HTTPParseError(code: -12))
        #expect(error.description == "400 BARE_CR: a CR is not followed by LF")
    }

    @Test func reportsAKnownSimdLevel() {
        #expect(["avx2", "sse42", "scalar"].contains(Engine.simdLevel))
    }
}
