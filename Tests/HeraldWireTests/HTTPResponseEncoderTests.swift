import Testing
@testable import HeraldWire

@Suite struct HTTPResponseEncoderTests {
    func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    @Test func encodesStatusLineFieldsInOrderAndBlankLine() {
        var headers = HTTPHeaders()
        headers.add(name: "Date", value: "Sun, 06 Nov 1994 08:49:37 GMT")
        headers.add(name: "Server", value: "herald")
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: "2")
        headers.add(name: "Set-Cookie", value: "a=1")
        headers.add(name: "Set-Cookie", value: "b=2")
        let bytes = HTTPResponseEncoder.encode(HTTPResponseHead(status: 200, headers: headers))
        #expect(
            bytes
                == Array(
                    ("HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nServer: herald\r\n"
                        + "Content-Type: application/json\r\nContent-Length: 2\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n").utf8))
    }

    @Test func encodesAHeadWithoutFields() {
        #expect(HTTPResponseEncoder.encode(HTTPResponseHead(status: 404)) == Array("HTTP/1.1 404 Not Found\r\n\r\n".utf8))
        #expect(
            text(HTTPResponseEncoder.encode(HTTPResponseHead(status: 101, headers: ["Upgrade": "websocket"])))
                == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")
    }

    @Test func continue100IsTheExactInterimResponse() {
        #expect(HTTPResponseEncoder.continue100 == Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
    }

    @Test func unknownStatusHasTheUnknownReason() {
        #expect(text(HTTPResponseEncoder.encode(HTTPResponseHead(status: 299))) == "HTTP/1.1 299 Unknown\r\n\r\n")
    }

    @Test func reasonPhrasesFollowRFC9110() {
        let expected: [Int: String] = [
            100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 204: "No Content",
            304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 408: "Request Timeout", 409: "Conflict", 413: "Content Too Large",
            415: "Unsupported Media Type", 422: "Unprocessable Content", 426: "Upgrade Required",
            429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
            501: "Not Implemented", 503: "Service Unavailable", 505: "HTTP Version Not Supported",
        ]
        for (status, phrase) in expected {
            #expect(HTTPStatus.reasonPhrase(status) == phrase, "\(status)")
        }
        #expect(HTTPStatus.reasonPhrase(0) == "Unknown")
        #expect(HTTPStatus.reasonPhrase(418) == "Unknown")
    }

    @Test func controlBytesInFieldsCannotSplitTheResponse() {
        let head = HTTPResponseHead(status: 302, headers: ["Location": "/x\r\nSet-Cookie: evil=1", "X-Tab": "a\tb"])
        #expect(
            text(HTTPResponseEncoder.encode(head))
                == "HTTP/1.1 302 Found\r\nLocation: /x  Set-Cookie: evil=1\r\nX-Tab: a\tb\r\n\r\n")
    }

    @Test func everyParserErrorStatusHasAReasonPhrase() {
        for status in [400, 413, 431, 501, 505] {
            #expect(HTTPStatus.reasonPhrase(status) != "Unknown")
        }
    }
}
