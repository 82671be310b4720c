import HeraldWire
import HeraldTestSupport
import Testing
@testable import HeraldClient

/// The client's response parser, every fixture fed whole, byte by byte and in random splits.
@Suite struct HTTPResponseParserTests {
    /// Feeds `chunks`, then EOF when `eof`; returns the head, the joined body, whether `.end`
    /// came, and the bytes left in the buffer.
    static func run(
        _ chunks: [[UInt8]], method: String = "GET", limits: HTTPResponseParserLimits = .default, eof: Bool = false
    ) throws(ClientError) -> (head: HTTPClientResponseHead?, body: [UInt8], ended: Bool, rest: [UInt8]) {
        var parser = HTTPResponseParser(requestMethod: method, limits: limits)
        var buffer = ByteBuffer()
        var head: HTTPClientResponseHead?
        var body: [UInt8] = []
        var ended = false
        func drain(_ event: HTTPResponseParserEvent) {
            switch event {
            case .head(let h):
                #expect(head == nil, "one head")
                head = h
            case .body(let b):
                #expect(!b.isEmpty && !ended)
                body += b
            case .end: ended = true
            }
        }
        for chunk in chunks {
            buffer.append(contentsOf: chunk)
            while !ended, let event = try parser.next(&buffer) { drain(event) }
        }
        if eof && !ended {
            while let event = try parser.finish() { drain(event) }
        }
        return (head, body, ended, buffer.readAll())
    }

    static func expectParses(
        _ text: String, status: Int, body: String, rest: String = "", method: String = "GET", eof: Bool = false,
        headers: [(String, String)] = [], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for (label, chunks) in FeedSplits.all(Array(text.utf8)) {
            do {
                let r = try run(chunks, method: method, eof: eof)
                #expect(r.head?.status == status, "\(label)", sourceLocation: sourceLocation)
                #expect(String(decoding: r.body, as: UTF8.self) == body, "\(label)", sourceLocation: sourceLocation)
                #expect(r.ended, "\(label)", sourceLocation: sourceLocation)
                #expect(String(decoding: r.rest, as: UTF8.self) == rest, "\(label)", sourceLocation: sourceLocation)
                for (name, value) in headers {
                    #expect(r.head?.headers[name] == value, "\(label) \(name)", sourceLocation: sourceLocation)
                }
            } catch {
                Issue.record("\(label): \(error)", sourceLocation: sourceLocation)
            }
        }
    }

    static func expectFails(
        _ text: String, containing fragment: String, limits: HTTPResponseParserLimits = .default, eof: Bool = false,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        for (label, chunks) in FeedSplits.all(Array(text.utf8)) {
            do {
                let r = try run(chunks, limits: limits, eof: eof)
                Issue.record("\(label): parsed \(String(describing: r.head)) instead of failing", sourceLocation: sourceLocation)
            } catch {
                #expect(error.description.contains(fragment), "\(label): \(error)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func contentLengthBody() {
        Self.expectParses(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}",
            status: 200, body: "{\"ok\":true}", headers: [("content-type", "application/json")])
    }

    @Test func headFieldsKeepOrderReasonAndVersion() throws {
        let r = try Self.run([Array("HTTP/1.0 404 Not Found\r\nX-A: 1\r\nx-a:  2 \r\nContent-Length: 0\r\n\r\n".utf8)])
        let head = try #require(r.head)
        #expect(head.major == 1 && head.minor == 0 && head.status == 404 && head.reason == "Not Found")
        #expect(head.headers.values(name: "X-A") == ["1", "2"])
        #expect(r.ended && r.body.isEmpty)
    }

    @Test func neverConsumesPastTheResponse() {
        Self.expectParses(
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 200", status: 200, body: "hi", rest: "HTTP/1.1 200")
    }

    @Test func chunkedBodyWithExtensionsAndTrailers() {
        Self.expectParses(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=v\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: t\r\n\r\n",
            status: 200, body: "hello, world!!!")
    }

    @Test func chunkedWithUppercaseHexAndLeadingZeros() {
        Self.expectParses(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000B\r\n0123456789a\r\n00\r\n\r\nnext",
            status: 200, body: "0123456789a", rest: "next")
    }

    @Test func transferEncodingWinsOverContentLength() {
        // RFC 9112 §6.3 item 3.
        Self.expectParses(
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            status: 200, body: "abc")
    }

    @Test func bodyUntilCloseEndsAtEOF() {
        Self.expectParses("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nstream of bytes", status: 200, body: "stream of bytes", eof: true)
        Self.expectParses("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxyz", status: 200, body: "xyz", eof: true)
    }

    @Test func noBodyFor204And304AndHEAD() {
        Self.expectParses("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", status: 204, body: "")
        Self.expectParses("HTTP/1.1 304 Not Modified\r\n\r\nrest", status: 304, body: "", rest: "rest")
        Self.expectParses("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", status: 200, body: "", method: "HEAD")
    }

    @Test func switchingProtocolsLeavesFramesInTheBuffer() {
        Self.expectParses(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u{81}\u{02}hi",
            status: 101, body: "", rest: "\u{81}\u{02}hi", headers: [("upgrade", "websocket")])
    }

    @Test func interimResponsesAreSkipped() {
        Self.expectParses(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx",
            status: 201, body: "x")
    }

    @Test func bareLFLineEndingsAreAccepted() {
        Self.expectParses("HTTP/1.1 200 OK\nContent-Length: 2\n\nok", status: 200, body: "ok")
    }

    @Test func statusLineWithoutReason() {
        Self.expectParses("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", status: 200, body: "")
        Self.expectParses("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", status: 200, body: "")
    }

    @Test func repeatedIdenticalContentLengthIsFine() {
        Self.expectParses("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok")
    }

    @Test func malformedStatusLines() {
        for line in ["HTTP/1.1 20 OK", "HTTP/2 200 OK", "HTTP/2.0 200 OK", "HTTP/1.1  200 OK", "ICY 200 OK", "HTTP/1.1 200OK",
                     "HTTP/1.1 abc OK", "HTTP/1.1 099 Low", "", "http/1.1 200 OK"] {
            Self.expectFails(line + "\r\nContent-Length: 0\r\n\r\n", containing: "bad response: ")
        }
        Self.expectFails("HTTP/2.0 200 OK\r\n\r\n", containing: "unsupported HTTP version 2.0")
        Self.expectFails("SSH-2.0-OpenSSH\r\n\r\n", containing: "not an HTTP/1.x status line")
    }

    @Test func malformedHeaderFields() {
        Self.expectFails("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", containing: "without a field name")
        Self.expectFails("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", containing: "not a token")
        Self.expectFails("HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n", containing: "folding")
        Self.expectFails("HTTP/1.1 200 OK\r\nA: x\u{1}y\r\n\r\n", containing: "control character")
        Self.expectFails("HTTP/1.1 200 OK\r\nA: x\ry\r\n\r\n", containing: "CR inside a line")
    }

    @Test func conflictingOrInvalidContentLength() {
        for value in ["1, 2", "-1", "+1", "1a", "", "0x10", "1234567890123456789"] {
            Self.expectFails("HTTP/1.1 200 OK\r\nContent-Length: \(value)\r\n\r\n", containing: "invalid Content-Length")
        }
        Self.expectFails("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", containing: "invalid Content-Length")
    }

    @Test func malformedChunks() {
        let prefix = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        for size in ["", "x", "-1", " 5", "5x", "0x5", "11111111111111111"] {
            Self.expectFails(prefix + size + "\r\nhello\r\n0\r\n\r\n", containing: "chunk size", eof: true)
        }
        Self.expectFails(prefix + "3\r\nhello\r\n0\r\n\r\n", containing: "longer than its size")
        Self.expectFails(prefix + "8000000000000000\r\n", containing: "chunk size")
    }

    @Test func truncatedResponsesSayWhere() {
        Self.expectFails("", containing: "before any response arrived", eof: true)
        Self.expectFails("HTTP/1.1 200 OK\r\nContent-Le", containing: "in the middle of the response head", eof: true)
        Self.expectFails("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", containing: "in the middle of the response body", eof: true)
        Self.expectFails("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", containing: "in the middle of the response body", eof: true)
    }

    // MARK: - Limits: at the limit, and one byte past it

    @Test func headAtTheLimitParsesAndOneBytePastFails() {
        let base = "HTTP/1.1 200 OK\r\nX: \r\nContent-Length: 0\r\n\r\n"
        let limit = 200
        let padded = base.replacingFirst("X: ", with: "X: " + String(repeating: "a", count: limit - base.utf8.count))
        #expect(padded.utf8.count == limit)
        let limits = HTTPResponseParserLimits(maxHeadBytes: limit)
        for (label, chunks) in FeedSplits.all(Array(padded.utf8)) {
            #expect(throws: Never.self, "\(label)") { _ = try Self.run(chunks, limits: limits) }
        }
        let over = padded.replacingFirst("X: ", with: "X: a")
        Self.expectFails(over, containing: "response head is larger than 200 bytes", limits: limits)
    }

    @Test func headerCountAtTheLimitParsesAndOneMoreFails() {
        let limits = HTTPResponseParserLimits(maxHeaderCount: 3)
        let three = "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 0\r\n\r\n"
        #expect(throws: Never.self) { _ = try Self.run([Array(three.utf8)], limits: limits) }
        Self.expectFails("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nContent-Length: 0\r\n\r\n", containing: "more than 3 header fields", limits: limits)
    }

    @Test func bodyAtTheLimitParsesAndOneBytePastFails() {
        let limits = HTTPResponseParserLimits(maxBodyBytes: 10)
        #expect(throws: Never.self) { _ = try Self.run([Array("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789".utf8)], limits: limits) }
        Self.expectFails("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", containing: "larger than 10 bytes", limits: limits)
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n5\r\n56789\r\n"
        #expect(throws: Never.self) { _ = try Self.run([Array((chunked + "0\r\n\r\n").utf8)], limits: limits) }
        Self.expectFails(chunked + "1\r\nx\r\n0\r\n\r\n", containing: "larger than 10 bytes", limits: limits)
        Self.expectFails("HTTP/1.1 200 OK\r\n\r\n0123456789x", containing: "larger than 10 bytes", limits: limits, eof: true)
    }

    @Test func chunkSizeLineAtItsLimit() {
        let prefix = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        let limit = HTTPResponseParser.maxChunkSizeLineBytes
        let ext = ";" + String(repeating: "e", count: limit - 4)  // "1" + ext + CRLF = limit bytes
        #expect(throws: Never.self) { _ = try Self.run([Array((prefix + "1" + ext + "\r\nx\r\n0\r\n\r\n").utf8)]) }
        #expect(throws: ClientError.self) { _ = try Self.run([Array((prefix + "1" + ext + "e\r\nx\r\n0\r\n\r\n").utf8)]) }
    }

    @Test func afterAFailureEveryCallThrowsAgain() {
        var parser = HTTPResponseParser()
        var buffer = ByteBuffer(string: "nonsense\r\n")
        #expect(throws: ClientError.self) { _ = try parser.next(&buffer) }
        buffer.append(string: "HTTP/1.1 200 OK\r\n\r\n")
        #expect(throws: ClientError.self) { _ = try parser.next(&buffer) }
        #expect(throws: ClientError.self) { _ = try parser.finish() }
    }
}

extension String {
    func replacingFirst(_ target: String, with replacement: String) -> String {
        let s = Array(utf8), t = Array(target.utf8)
        guard t.count <= s.count else { return self }
        for i in 0...(s.count - t.count) where Array(s[i..<(i + t.count)]) == t {
            return String(decoding: s[..<i] + Array(replacement.utf8) + s[(i + t.count)...], as: UTF8.self)
        }
        return self
    }
}
