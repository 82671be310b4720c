import HeraldTestSupport
import Testing
@testable import HeraldWire

/// Every limit at the limit and one byte (or field) past it (design.md, house style 4).
@Suite struct HTTPRequestParserLimitsTests {
    typealias H = HTTPParserHarness

    static let prefix = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: "

    /// A GET whose head (request line through the blank line) is exactly `size` bytes.
    static func head(ofSize size: Int) -> [UInt8] {
        let pad = size - prefix.utf8.count - 4
        return [UInt8](prefix + String(repeating: "a", count: pad) + "\r\n\r\n")
    }

    static func expectedHead(ofSize size: Int) -> HTTPRequestHead {
        HTTPRequestHead(
            method: "GET", target: "/",
            headers: ["Host": "h", "X-Pad": String(repeating: "a", count: size - prefix.utf8.count - 4)])
    }

    @Test func defaultLimitsAreTheDocumentedOnes() {
        let limits = HTTPParserLimits.default
        #expect(limits.maxHeadBytes == 16_384)
        #expect(limits.maxHeaderCount == 100)
        #expect(limits.maxBodyBytes == 1_048_576)
    }

    @Test func headExactlyAtLimitParses() {
        let bytes = Self.head(ofSize: 16_384)
        #expect(bytes.count == 16_384)
        H.expectParses(bytes, [.head(Self.expectedHead(ofSize: 16_384)), .end])
    }

    @Test func headOneBytePastLimitIs431() {
        let bytes = Self.head(ofSize: 16_385)
        #expect(bytes.count == 16_385)
        H.expectFails(bytes, status: 431, code: "headers_too_large", headEmitted: false)
    }

    @Test func headPastLimitIsRefusedBeforeItEnds() throws {
        // A head that never ends: refused as soon as byte 16,385 is buffered, not at its blank line.
        var parser = HTTPRequestParser()
        var buffer = ByteBuffer(string: Self.prefix + String(repeating: "a", count: 16_384 - Self.prefix.utf8.count))
        #expect(try parser.next(&buffer) == nil)
        #expect(parser.isMidRequest)
        buffer.append(string: "a")
        #expect(throws: HTTPParseError.headersTooLarge) { try parser.next(&buffer) }

        // Same for one endless request line.
        var lineParser = HTTPRequestParser()
        var line = ByteBuffer(string: "GET /" + String(repeating: "a", count: 16_380))
        #expect(throws: HTTPParseError.headersTooLarge) { try lineParser.next(&line) }
    }

    @Test func leadingEmptyLinesDoNotCountTowardsTheHeadLimit() {
        H.expectParses([UInt8]("\r\n\r\n\r\n\r\n") + Self.head(ofSize: 16_384), [.head(Self.expectedHead(ofSize: 16_384)), .end])
    }

    @Test func smallerHeadLimitIsHonouredAtAndPastIt() {
        let limits = HTTPParserLimits(maxHeadBytes: 64)
        H.expectParses(Self.head(ofSize: 64), [.head(Self.expectedHead(ofSize: 64)), .end], limits: limits)
        H.expectFails(Self.head(ofSize: 65), status: 431, code: "headers_too_large", limits: limits)
    }

    static func request(fieldCount: Int) -> [UInt8] {
        let fields = ["Host: h"] + (1..<fieldCount).map { "X-\($0): \($0)" }
        return [UInt8]("GET / HTTP/1.1\r\n" + fields.map { $0 + "\r\n" }.joined() + "\r\n")
    }

    @Test func exactlyMaxHeaderCountFieldsParse() {
        let run = H.run([Self.request(fieldCount: 100)])
        #expect(run.error == nil)
        guard case .head(let head)? = run.events.first else {
            Issue.record("no head")
            return
        }
        #expect(head.headers.count == 100)
        #expect(head.headers["x-99"] == "99")
        H.expectParses(Self.request(fieldCount: 100), run.events)
    }

    @Test func oneFieldPastMaxHeaderCountIs431() {
        H.expectFails(Self.request(fieldCount: 101), status: 431, code: "too_many_headers", headEmitted: false)
    }

    /// Large bodies: whole and seeded splits; byte by byte too where it stays quick.
    static func bigSplits(_ bytes: [UInt8]) -> [(label: String, chunks: [[UInt8]])] {
        FeedSplits.all(bytes, seeds: 1..<6)
    }

    static let mebibyte = 1 << 20

    @Test func contentLengthBodyExactlyAtLimitParses() {
        let body = (0..<Self.mebibyte).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let wire = [UInt8]("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048576\r\n\r\n") + body
        let head = HTTPRequestHead(
            method: "POST", target: "/", headers: ["Host": "h", "Content-Length": "1048576"],
            bodyFraming: .contentLength(Self.mebibyte))
        H.expectParses(wire, [.head(head), .body(body), .end], splits: Self.bigSplits(wire))
    }

    @Test func contentLengthOneBytePastLimitIs413BeforeTheHead() {
        H.expectFails(
            [UInt8]("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n"), status: 413,
            code: "body_too_large", headEmitted: false)
        H.expectFails(
            [UInt8]("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n"), status: 413,
            code: "body_too_large", headEmitted: false)
    }

    static func chunked(_ chunks: [[UInt8]]) -> [UInt8] {
        var wire = [UInt8]("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        for chunk in chunks {
            wire += [UInt8](String(chunk.count, radix: 16) + "\r\n") + chunk + [UInt8]("\r\n")
        }
        return wire + [UInt8]("0\r\n\r\n")
    }

    static let chunkedHead = HTTPRequestHead(
        method: "POST", target: "/", headers: ["Host": "h", "Transfer-Encoding": "chunked"], bodyFraming: .chunked)

    @Test func chunkedBodyExactlyAtLimitParses() {
        let body = (0..<Self.mebibyte).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let chunks = stride(from: 0, to: body.count, by: 65_536).map { Array(body[$0..<($0 + 65_536)]) }
        let wire = Self.chunked(chunks)
        H.expectParses(wire, [.head(Self.chunkedHead), .body(body), .end], splits: Self.bigSplits(wire))
    }

    @Test func chunkedBodyOneBytePastLimitIs413() {
        let chunks = Array(repeating: [UInt8](repeating: 0x61, count: 65_536), count: 16) + [[0x62]]
        H.expectFails(Self.chunked(chunks), status: 413, code: "body_too_large", splits: Self.bigSplits(Self.chunked(chunks)))
        // One chunk larger than the limit is refused at its size line, before its data arrives.
        H.expectFails(
            [UInt8]("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n"), status: 413,
            code: "body_too_large")
        H.expectFails(
            [UInt8]("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n7FFFFFFFFFFFFFFF\r\n"), status: 413,
            code: "body_too_large")
    }

    @Test func smallerBodyLimitIsHonouredByteByByte() {
        let limits = HTTPParserLimits(maxBodyBytes: 10)
        let fixed = [UInt8]("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789")
        let head = HTTPRequestHead(
            method: "POST", target: "/", headers: ["Host": "h", "Content-Length": "10"], bodyFraming: .contentLength(10))
        H.expectParses(fixed, [.head(head), .body([UInt8]("0123456789")), .end], limits: limits)
        H.expectFails(
            [UInt8]("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"), status: 413, code: "body_too_large",
            limits: limits)
        let chunks: [[UInt8]] = [[UInt8]("0123"), [UInt8]("456789")]
        H.expectParses(Self.chunked(chunks), [.head(Self.chunkedHead), .body([UInt8]("0123456789")), .end], limits: limits)
        H.expectFails(Self.chunked(chunks + [[0x61]]), status: 413, code: "body_too_large", limits: limits)
    }

    // MARK: chunk-size line and extensions

    /// A chunked request with one 1-byte chunk whose size line is `lineBytes` long, CRLF included.
    static func chunkSizeLine(ofSize lineBytes: Int) -> [UInt8] {
        let ext = ";a=" + String(repeating: "x", count: lineBytes - 1 - 3 - 2)
        return [UInt8]("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\(ext)\r\nz\r\n0\r\n\r\n")
    }

    @Test func chunkSizeLineExactlyAtLimitParses() {
        H.expectParses(Self.chunkSizeLine(ofSize: 4096), [.head(Self.chunkedHead), .body([0x7A]), .end])
    }

    @Test func chunkSizeLineOneBytePastLimitIs400() {
        H.expectFails(Self.chunkSizeLine(ofSize: 4097), status: 400, code: "chunk_line_too_long")
    }

    /// A chunked request whose chunk extensions add up to `total` bytes over several 1-byte chunks.
    static func chunkExtensions(totalling total: Int) -> (wire: [UInt8], body: [UInt8]) {
        var wire = [UInt8]("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
        var body: [UInt8] = []
        var left = total
        while left > 0 {
            // Pieces of at most 2048 bytes, never leaving less than 2 (`;a` is the shortest extension).
            var n = min(left, 2048)
            if left - n == 1 { n -= 1 }
            wire += [UInt8]("1;a" + String(repeating: "b", count: n - 2) + "\r\nc\r\n")
            body.append(0x63)
            left -= n
        }
        return (wire + [UInt8]("0\r\n\r\n"), body)
    }

    @Test func chunkExtensionsExactlyAtTheirPerBodyLimitParse() {
        let (wire, body) = Self.chunkExtensions(totalling: 16_384)
        H.expectParses(wire, [.head(Self.chunkedHead), .body(body), .end])
    }

    @Test func chunkExtensionsOneBytePastTheirPerBodyLimitAre400() {
        H.expectFails(Self.chunkExtensions(totalling: 16_385).wire, status: 400, code: "chunk_extensions_too_large")
    }

    // MARK: trailer section

    static func trailers(_ lines: [String]) -> [UInt8] {
        [UInt8]("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nq\r\n0\r\n"
            + lines.map { $0 + "\r\n" }.joined() + "\r\n")
    }

    @Test func exactlyMaxHeaderCountTrailersParse() {
        H.expectParses(
            Self.trailers((0..<100).map { "T-\($0): v" }), [.head(Self.chunkedHead), .body([0x71]), .end])
    }

    @Test func oneTrailerPastMaxHeaderCountIs431() {
        H.expectFails(Self.trailers((0..<101).map { "T-\($0): v" }), status: 431, code: "too_many_headers")
    }

    @Test func trailerSectionExactlyAtHeadLimitParses() {
        // "X-Pad: " + pad + CRLF + CRLF = 16,384 bytes.
        let pad = String(repeating: "p", count: 16_384 - 7 - 4)
        H.expectParses(Self.trailers(["X-Pad: " + pad]), [.head(Self.chunkedHead), .body([0x71]), .end])
    }

    @Test func trailerSectionOneBytePastHeadLimitIs431() {
        let pad = String(repeating: "p", count: 16_385 - 7 - 4)
        H.expectFails(Self.trailers(["X-Pad: " + pad]), status: 431, code: "headers_too_large")
    }
}
