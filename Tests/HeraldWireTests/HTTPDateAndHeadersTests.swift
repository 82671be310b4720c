import Testing
@testable import HeraldWire

@Suite struct HTTPDateTests {
    @Test func formatsTheRFCExample() {
        #expect(HTTPDate.format(secondsSince1970: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(secondsSince1970: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
    }

    @Test func parsesWhatItFormats() {
        for t in [0, 784_111_777, 951_782_400, 1_700_000_000, 4_102_444_799] {
            #expect(HTTPDate.parse(HTTPDate.format(secondsSince1970: t)) == t)
        }
    }

    @Test func rejectsObsoleteAndMalformedDates() {
        #expect(HTTPDate.parse("Sunday, 06-Nov-94 08:49:37 GMT") == nil)
        #expect(HTTPDate.parse("Sun Nov  6 08:49:37 1994") == nil)
        #expect(HTTPDate.parse("Sun, 06 Nov 1994 25:49:37 GMT") == nil)
        #expect(HTTPDate.parse("") == nil)
    }
}

@Suite struct HTTPHeadersTests {
    @Test func namesCompareCaseInsensitivelyOnlyForLetters() {
        #expect(HTTPHeaders.equalNames("Content-Length", "content-length"))
        #expect(HTTPHeaders.equalNames("ETAG", "etag"))
        #expect(!HTTPHeaders.equalNames("Content-Length", "Content-Lengt"))
        // '@' (0x40) and '`' (0x60) differ only in bit 0x20 but are not letters.
        #expect(!HTTPHeaders.equalNames("a@", "a`"))
        #expect(!HTTPHeaders.equalNames("x-a", "x_a"))
    }

    @Test func tokensSplitCommaListsAcrossRepeatedFields() {
        var headers = HTTPHeaders()
        headers.add(name: "Connection", value: "keep-alive, Upgrade")
        headers.add(name: "connection", value: " close ")
        #expect(headers.tokens(name: "CONNECTION") == ["keep-alive", "upgrade", "close"])
        #expect(headers.values(name: "connection").count == 2)
        headers.replaceOrAdd(name: "Connection", value: "x")
        #expect(headers.values(name: "connection") == ["x"])
    }

    /// SP and HTAB go from both ends (RFC 9110 §5.6.3), nothing else; a value with nothing to
    /// trim comes back as it is.
    @Test func optionalWhitespaceIsTrimmedFromBothEnds() {
        let cases: [(String, String)] = [("", ""), (" ", ""), ("\t \t", ""), ("a", "a"), (" a", "a"), ("a\t", "a"),
                                         (" \ta b\t ", "a b"), ("\u{A0}a\u{A0}", "\u{A0}a\u{A0}"), ("\na\r", "\na\r"), ("dGhl", "dGhl")]
        for (input, trimmed) in cases {
            #expect(input.trimmingHTTPWhitespace() == trimmed, "\(input.debugDescription)")
            #expect(input[...].trimmingHTTPWhitespace() == trimmed, "\(input.debugDescription) as a Substring")
        }
    }
}
