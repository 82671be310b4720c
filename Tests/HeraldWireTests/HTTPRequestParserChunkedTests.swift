import Testing
@testable import HeraldWire

/// Malformed chunked bodies (RFC 9112 §7.1): refused with exact codes, however split.
@Suite struct HTTPRequestParserChunkedTests {
    typealias H = HTTPParserHarness

    static func chunked(_ body: String) -> [UInt8] {
        [UInt8]("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    }

    @Test func chunkSizeThatIsNotHexDigitsIs400() {
        for line in ["", "x", "0x5", " 5", "5 ", "+5", "-5", "5x", "1 0", "\t5", "g", "5\u{0}"] {
            H.expectFails(
                Self.chunked(line + "\r\nhello\r\n0\r\n\r\n"), status: 400, code: "bad_chunk_size",
                headEmitted: true, context: line)
        }
    }

    @Test func chunkSizeOfMoreThan16DigitsIs400() {
        H.expectFails(Self.chunked("00000000000000005\r\nhello\r\n0\r\n\r\n"), status: 400, code: "bad_chunk_size")
        // 16 digits are allowed, leading zeros included.
        H.expectParses(
            Self.chunked("0000000000000005\r\nhello\r\n0000000000000000\r\n\r\n"),
            [.head(HTTPRequestParserLimitsTests.chunkedHead), .body([UInt8]("hello")), .end])
    }

    @Test func chunkSizeThatOverflowsIs400() {
        for size in ["FFFFFFFFFFFFFFFF", "8000000000000000"] {
            H.expectFails(Self.chunked(size + "\r\n"), status: 400, code: "bad_chunk_size", context: size)
        }
    }

    @Test func malformedChunkExtensionIs400() {
        for ext in [";", "; ", ";=v", ";a=", ";a=\"open", ";a b", ";a;", ";a=b c", ";a=\"x\"y", ";a=\"\u{1}\"", ";a=\"x\\\"", ";a ", ";(a)"] {
            H.expectFails(
                Self.chunked("5" + ext + "\r\nhello\r\n0\r\n\r\n"), status: 400, code: "bad_chunk_extension",
                context: ext)
        }
    }

    @Test func wellFormedChunkExtensionsAreAccepted() {
        for ext in [";a", ";a=b", " ;a", ";a ; b", ";a = b", ";a=\"\"", ";a=\"x\\\"y\\\\\"", ";a=\"sp ace\";b=!#$"] {
            H.expectParses(
                Self.chunked("5" + ext + "\r\nhello\r\n0" + ext + "\r\n\r\n"),
                [.head(HTTPRequestParserLimitsTests.chunkedHead), .body([UInt8]("hello")), .end], context: ext)
        }
    }

    @Test func chunkDataNotFollowedByCRLFIs400() {
        for tail in ["X\r\n0\r\n\r\n", "\rX0\r\n\r\n", "\n0\r\n\r\n", "0\r\n\r\n"] {
            H.expectFails(
                Self.chunked("5\r\nhello" + tail), status: 400, code: "bad_chunk_terminator", context: tail)
        }
        // A chunk longer than its size says: the extra byte lands where CRLF must be.
        H.expectFails(Self.chunked("4\r\nhello\r\n0\r\n\r\n"), status: 400, code: "bad_chunk_terminator")
    }

    @Test func bareLineEndsInChunkSizeLinesAre400() {
        H.expectFails(Self.chunked("5\nhello\r\n0\r\n\r\n"), status: 400, code: "bare_lf")
        H.expectFails(Self.chunked("5\rhello\r\n0\r\n\r\n"), status: 400, code: "bare_cr")
        H.expectFails(Self.chunked("5\r\nhello\r\n0\n\r\n"), status: 400, code: "bare_lf")
    }

    @Test func malformedTrailerFieldsAre400() {
        H.expectFails(Self.chunked("0\r\nX: a\r\n folded\r\n\r\n"), status: 400, code: "obs_fold")
        H.expectFails(Self.chunked("0\r\nX : a\r\n\r\n"), status: 400, code: "space_before_colon")
        H.expectFails(Self.chunked("0\r\nX: a\u{0}\r\n\r\n"), status: 400, code: "bad_header_value")
        H.expectFails(Self.chunked("0\r\nnot a field\r\n\r\n"), status: 400, code: "bad_header_line")
        H.expectFails(Self.chunked("0\r\nX: a\n\r\n"), status: 400, code: "bare_lf")
    }

    @Test func trailerFieldsDoNotChangeFraming() {
        // A Content-Length or Transfer-Encoding in the trailers is ignored, and the next request
        // starts right after the trailer section.
        let wire =
            Self.chunked("3\r\nabc\r\n0\r\nContent-Length: 50\r\nTransfer-Encoding: gzip\r\n\r\n")
            + [UInt8]("GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
        H.expectParses(
            wire,
            [
                .head(HTTPRequestParserLimitsTests.chunkedHead), .body([UInt8]("abc")), .end,
                .head(HTTPRequestHead(method: "GET", target: "/next", headers: ["Host": "h"])), .end,
            ])
    }

    @Test func chunkedBodyIsDeliveredInPiecesNeverEmpty() {
        // Many small chunks fed byte by byte: many pieces, none empty, same bytes.
        let body = (0..<300).map { UInt8(truncatingIfNeeded: $0) }
        let chunks = stride(from: 0, to: body.count, by: 7).map { Array(body[$0..<min($0 + 7, body.count)]) }
        let wire = HTTPRequestParserLimitsTests.chunked(chunks)
        H.expectParses(wire, [.head(HTTPRequestParserLimitsTests.chunkedHead), .body(body), .end])
    }
}
