import HeraldTestSupport
import Testing
@testable import HeraldWire

@Suite struct HTTPRequestParserTests {
    typealias H = HTTPParserHarness

    @Test func simpleGetYieldsHeadThenEnd() {
        let head = HTTPRequestHead(
            method: "GET", target: "/api/tasks?state=running&x=1", version: .http1_1,
            headers: ["Host": "example.com", "Accept": "*/*"], bodyFraming: .none)
        H.expectParses(
            [UInt8]("GET /api/tasks?state=running&x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"),
            [.head(head), .end])
        #expect(head.path == "/api/tasks")
        #expect(head.query == "state=running&x=1")
    }

    @Test func contentLengthBodyIsEmittedThenEnd() {
        let head = HTTPRequestHead(
            method: "POST", target: "/api/tasks/7/progress", version: .http1_1,
            headers: ["Host": "h", "Content-Type": "application/json", "Content-Length": "13"],
            bodyFraming: .contentLength(13))
        H.expectParses(
            [UInt8](
                "POST /api/tasks/7/progress HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\n"
                    + "Content-Length: 13\r\n\r\n{\"percent\":5}"),
            [.head(head), .body([UInt8]("{\"percent\":5}")), .end])
    }

    @Test func zeroContentLengthEndsRightAfterHead() {
        let head = HTTPRequestHead(
            method: "POST", target: "/x", headers: ["Host": "h", "Content-Length": "0"], bodyFraming: .contentLength(0))
        H.expectParses([UInt8]("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"), [.head(head), .end])
    }

    @Test func postWithoutLengthHasNoBody() {
        // RFC 9112 §6.3: a request with neither CL nor TE has a zero-length body, never read-until-close.
        let head = HTTPRequestHead(method: "POST", target: "/x", headers: ["Host": "h"], bodyFraming: .none)
        H.expectParses([UInt8]("POST /x HTTP/1.1\r\nHost: h\r\n\r\n"), [.head(head), .end])
    }

    @Test func chunkedBodyIsDechunkedWithExtensionsAndTrailersIgnored() {
        let head = HTTPRequestHead(
            method: "PUT", target: "/upload", headers: ["Host": "h", "Transfer-Encoding": "chunked"],
            bodyFraming: .chunked)
        let wire =
            "PUT /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n"
            + "6 ; a ; b = \"q \\\" x\"\r\n world\r\n"
            + "000A\r\n, 0123456\n\r\n"
            + "0;last\r\nX-Trailer: t\r\nX-Other:  2 \r\n\r\n"
        H.expectParses([UInt8](wire), [.head(head), .body([UInt8]("hello world, 0123456\n")), .end])
    }

    @Test func chunkedWithoutTrailersAndUppercaseCoding() {
        let head = HTTPRequestHead(
            method: "POST", target: "/", headers: ["Host": "h", "Transfer-Encoding": "Chunked"], bodyFraming: .chunked)
        H.expectParses(
            [UInt8]("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n"),
            [.head(head), .body([UInt8]("abcdefghijklmnopqrstuvwxyz")), .end])
    }

    @Test func chunkedWithOnlyTheLastChunkHasNoBodyEvent() {
        let head = HTTPRequestHead(
            method: "POST", target: "/", headers: ["Host": "h", "Transfer-Encoding": "chunked"], bodyFraming: .chunked)
        H.expectParses(
            [UInt8]("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), [.head(head), .end])
    }

    @Test func fieldValuesAreTrimmedAndOrderAndRepeatsKept() {
        let wire =
            "GET / HTTP/1.1\r\nHost:h\r\nX-A: \t one \t\r\nx-b:two\twords\r\nX-A: again\r\nX-Empty:\r\nX-Spaces:   \r\n"
            + "X-Obs: caf\u{E9}\r\n\r\n"
        var headers = HTTPHeaders()
        for (n, v) in [
            ("Host", "h"), ("X-A", "one"), ("x-b", "two\twords"), ("X-A", "again"), ("X-Empty", ""), ("X-Spaces", ""),
            ("X-Obs", "caf\u{E9}"),
        ] { headers.add(name: n, value: v) }
        H.expectParses([UInt8](wire), [.head(HTTPRequestHead(method: "GET", target: "/", headers: headers)), .end])
        #expect(HTTPParserHarness.head(wire)?.headers.values(name: "x-a") == ["one", "again"])
    }

    @Test func methodIsKeptCaseSensitiveAsSent() {
        let head = H.head("get / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(head?.method == "get")
        #expect(H.head("M-SEARCH * HTTP/1.1\r\nHost: h\r\n\r\n") == nil)  // `*` is for OPTIONS only
        #expect(H.head("PROPFIND /a HTTP/1.1\r\nHost: h\r\n\r\n")?.method == "PROPFIND")
    }

    @Test func http10WithoutHostParses() {
        let head = HTTPRequestHead(method: "GET", target: "/", version: .http1_0, bodyFraming: .none)
        H.expectParses([UInt8]("GET / HTTP/1.0\r\n\r\n"), [.head(head), .end])
    }

    @Test func leadingEmptyLinesUpToFourAreSkipped() {
        let head = HTTPRequestHead(method: "GET", target: "/", headers: ["Host": "h"])
        H.expectParses([UInt8]("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), [.head(head), .end])
    }

    @Test func fiveLeadingEmptyLinesAre400() {
        H.expectFails(
            [UInt8]("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), status: 400, code: "too_many_empty_lines")
    }

    @Test func absoluteFormKeepsPathAndQueryFromIt() {
        var head = HTTPRequestHead(
            method: "GET", target: "/a/b?x=1", headers: ["Host": "example.com"], bodyFraming: .none)
        head.target = "http://example.com:8080/a/b?x=1"
        H.expectParses([UInt8]("GET http://example.com:8080/a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"), [.head(head), .end])
        #expect(head.path == "/a/b" && head.query == "x=1")

        let bare = H.head("GET HTTPS://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n")
        #expect(bare?.target == "HTTPS://example.com")
        #expect(bare?.path == "/")
        #expect(bare?.query == nil)
        let queryOnly = H.head("GET http://example.com?q=2 HTTP/1.1\r\nHost: example.com\r\n\r\n")
        #expect(queryOnly?.path == "/")
        #expect(queryOnly?.query == "q=2")
    }

    @Test func asteriskFormIsAcceptedForOptions() {
        let head = HTTPRequestHead(method: "OPTIONS", target: "*", headers: ["Host": "h"])
        H.expectParses([UInt8]("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), [.head(head), .end])
    }

    @Test func threePipelinedRequestsYieldThreeHeadEndPairsAndLeaveNoBytes() {
        let wire =
            "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
            + "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
            + "POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"
        let expected: [HTTPCollected] = [
            .head(HTTPRequestHead(method: "GET", target: "/1", headers: ["Host": "h"])), .end,
            .head(HTTPRequestHead(
                method: "POST", target: "/2", headers: ["Host": "h", "Content-Length": "3"], bodyFraming: .contentLength(3))),
            .body([UInt8]("abc")), .end,
            .head(HTTPRequestHead(
                method: "POST", target: "/3", headers: ["Host": "h", "Transfer-Encoding": "chunked"], bodyFraming: .chunked)),
            .body([UInt8]("de")), .end,
        ]
        H.expectParses([UInt8](wire), expected)

        // Fed as one buffer, the parser consumes exactly all of it.
        var parser = HTTPRequestParser()
        var buffer = ByteBuffer(string: wire)
        var heads = 0
        var ends = 0
        while let event = try? parser.next(&buffer) {
            if case .head = event { heads += 1 }
            if case .end = event { ends += 1 }
        }
        #expect(heads == 3 && ends == 3)
        #expect(buffer.readableBytes == 0)
        #expect(!parser.isMidRequest)
    }

    @Test func bytesAfterAnUpgradeRequestAreLeftExactlyInTheBuffer() throws {
        let request =
            "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        // A masked WebSocket frame, then bytes that look like HTTP and a bare LF: none of it is parsed.
        let after: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
            + [UInt8]("\r\n\r\nGET / HTTP/1.1\n\0")
        let wire = [UInt8](request) + after
        for (label, chunks) in FeedSplits.all(wire) {
            let run = HTTPParserHarness.run(chunks, stopAfterEnds: 1)
            #expect(run.error == nil, "\(label)")
            #expect(run.events.count == 2, "\(label)")
            #expect(run.leftover == after, "\(label)")
        }
        // Fed whole: `.end` comes without touching the frame bytes.
        var parser = HTTPRequestParser()
        var buffer = ByteBuffer(wire)
        guard case .head(let head)? = try? parser.next(&buffer) else {
            Issue.record("no head")
            return
        }
        #expect(head.headers.tokens(name: "connection") == ["upgrade"])
        #expect(try parser.next(&buffer) == .end)
        #expect(Array(buffer.readableView) == after)
    }

    @Test func bytesAfterAContentLengthBodyAreNotConsumed() {
        var parser = HTTPRequestParser()
        var buffer = ByteBuffer(string: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbodyNEXT")
        var events: [HTTPParserEvent] = []
        while let event = try? parser.next(&buffer) {
            events.append(event)
            if event == .end { break }
        }
        #expect(events.count == 3)
        #expect(events[1] == .body([UInt8]("body")))
        #expect(Array(buffer.readableView) == [UInt8]("NEXT"))
    }

    @Test func bodyPiecesAreEmittedAsTheyArriveWithoutBufferingTheWholeChunk() throws {
        var parser = HTTPRequestParser()
        var buffer = ByteBuffer(string: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc")
        guard case .head? = try parser.next(&buffer) else {
            Issue.record("no head")
            return
        }
        #expect(try parser.next(&buffer) == .body([UInt8]("abc")))
        #expect(try parser.next(&buffer) == nil)
        buffer.append(string: "defghijklmnop\r\n0\r\n\r\n")
        #expect(try parser.next(&buffer) == .body([UInt8]("defghijklmnop")))
        #expect(try parser.next(&buffer) == .end)
        #expect(buffer.isEmpty)

        var fixed = HTTPRequestParser()
        var b2 = ByteBuffer(string: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n12345")
        _ = try fixed.next(&b2)
        #expect(try fixed.next(&b2) == .body([UInt8]("12345")))
        #expect(try fixed.next(&b2) == nil)
    }

    @Test func midRequestAndReadingBodyTrackTheRequest() throws {
        var parser = HTTPRequestParser()
        var buffer = ByteBuffer()
        #expect(!parser.isMidRequest && !parser.isReadingBody)

        buffer.append(string: "\r\n")  // a leading empty line does not start a request
        #expect(try parser.next(&buffer) == nil)
        #expect(!parser.isMidRequest)

        buffer.append(string: "PO")
        #expect(try parser.next(&buffer) == nil)
        #expect(parser.isMidRequest && !parser.isReadingBody)

        buffer.append(string: "ST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n")
        guard case .head? = try parser.next(&buffer) else {
            Issue.record("no head")
            return
        }
        #expect(parser.isMidRequest && parser.isReadingBody)
        #expect(try parser.next(&buffer) == nil)
        buffer.append(string: "ok")
        #expect(try parser.next(&buffer) == .body([UInt8]("ok")))
        #expect(try parser.next(&buffer) == .end)
        #expect(!parser.isMidRequest && !parser.isReadingBody)

        buffer.append(string: "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        guard case .head? = try parser.next(&buffer) else {
            Issue.record("no head")
            return
        }
        #expect(parser.isMidRequest && !parser.isReadingBody)  // `.end` still to come
        #expect(try parser.next(&buffer) == .end)
        #expect(!parser.isMidRequest)
    }

    @Test func expectContinueIsVisibleOnTheHeadBeforeTheBodyArrives() throws {
        var parser = HTTPRequestParser()
        var buffer = ByteBuffer(
            string: "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n")
        guard case .head(let head)? = try parser.next(&buffer) else {
            Issue.record("no head")
            return
        }
        #expect(head.expectsContinue)
        #expect(try parser.next(&buffer) == nil)
        #expect(H.head("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")?.expectsContinue == false)
    }

    @Test func keepAliveFollowsVersionAndConnectionTokens() {
        #expect(H.head("GET / HTTP/1.1\r\nHost: h\r\n\r\n")?.keepAlive == true)
        #expect(H.head("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")?.keepAlive == false)
        #expect(H.head("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, Close\r\n\r\n")?.keepAlive == false)
        #expect(H.head("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n")?.keepAlive == true)
        #expect(H.head("GET / HTTP/1.0\r\n\r\n")?.keepAlive == false)
        #expect(H.head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")?.keepAlive == true)
        #expect(H.head("GET / HTTP/1.0\r\nConnection: te\r\nConnection: keep-alive\r\n\r\n")?.keepAlive == true)
    }

    @Test func afterAnErrorEveryCallThrowsTheSameError() {
        var parser = HTTPRequestParser()
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nHost : h\r\n\r\n")
        #expect(throws: HTTPParseError.spaceBeforeColon) { try parser.next(&buffer) }
        buffer.append(string: "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(throws: HTTPParseError.spaceBeforeColon) { try parser.next(&buffer) }
        #expect(!parser.isMidRequest)
    }
}
