import FuzzSupport
import HeraldWire

// HTTPRequestParser (RFC 9112): bytes fed whole and in two pieces must give the same events
// (body pieces joined) and the same error; bodies match their framing and stay within the limits; nothing past
// the last `.end` is consumed. Small limits, so inputs reach them.
let limits = HTTPParserLimits(maxHeadBytes: 1024, maxHeaderCount: 16, maxBodyBytes: 2048)

struct Outcome: Equatable {
    var events: [HTTPParserEvent] = []
    var error: HTTPParseError?
    /// Bytes left in the buffer at the end (the start of an unfinished request); nil after an
    /// error, when the connection is closed and the rest is never read.
    var leftover: Int?
}

func parse(_ pieces: [ArraySlice<UInt8>]) -> Outcome {
    var parser = HTTPRequestParser(limits: limits)
    var buffer = ByteBuffer()
    var out = Outcome()
    var bodyBytes = 0
    var framing: HTTPBodyFraming?
    for piece in pieces {
        buffer.append(contentsOf: piece)
        do {
            while let event = try parser.next(&buffer) {
                switch event {
                case .head(let head):
                    Fuzz.check(framing == nil, "a head inside a request")
                    Fuzz.check(head.headers.count <= limits.maxHeaderCount, "\(head.headers.count) headers")
                    framing = head.bodyFraming
                    if case .contentLength(let n) = head.bodyFraming {
                        Fuzz.check(n <= limits.maxBodyBytes, "Content-Length \(n) past the limit")
                    }
                case .body(let bytes):
                    Fuzz.check(!bytes.isEmpty, "empty body piece")
                    bodyBytes += bytes.count
                    Fuzz.check(bodyBytes <= limits.maxBodyBytes, "body of \(bodyBytes) bytes past the limit")
                case .end:
                    Fuzz.check(framing != nil, ".end without a head")
                    switch framing! {
                    case .none: Fuzz.check(bodyBytes == 0, "body without framing")
                    case .contentLength(let n): Fuzz.check(bodyBytes == n, "body \(bodyBytes) != Content-Length \(n)")
                    case .chunked: break
                    }
                    Fuzz.check(!parser.isMidRequest, "mid-request after .end")
                    framing = nil
                    bodyBytes = 0
                }
                // How a body arrives in pieces depends on how the bytes did: consecutive
                // pieces are compared joined (a split may cut one in two).
                if case .body(let bytes) = event, case .body(let before)? = out.events.last {
                    out.events[out.events.count - 1] = .body(before + bytes)
                } else {
                    out.events.append(event)
                }
            }
        } catch {
            // After a throw every call throws the same error.
            var again = ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n")
            Fuzz.check((try? parser.next(&again)) == nil, "parser usable after an error")
            out.error = error
            break
        }
    }
    if out.error == nil { out.leftover = buffer.readableBytes }
    return out
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = Fuzz.bytes(data, size)
    let whole = parse([bytes[...]])
    let at = Fuzz.splitPoint(bytes)
    let split = parse([bytes[..<at], bytes[at...]])
    Fuzz.check(whole == split, "split at \(at) differs:\n\(whole)\nvs\n\(split)")
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: FuzzArgc, _ argv: FuzzArgv) -> Int32 {
    Fuzz.writeSeedsIfAsked {
        [
            "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
            "GET /api/tasks?owner=bob&status=running HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            "POST /api/tasks HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"title\":\"x\"}\r\n\r\n",
            "POST /api/tasks/a/progress HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n{\"don\r\n6\r\ne\":3}\r\n0\r\nX-Trailer: t\r\n\r\n",
            "GET /ws/echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n\u{81}\u{85}",
            "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\nHEAD /c HTTP/1.1\r\n\r\n",
            "\r\n\r\nPUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
            "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET http://example.com:8080/p%20q?x=1#f HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\n Folded: x\r\n\r\n",
        ].map { Array($0.utf8) }
    }
    return 0
}

/// The executable's entry as SwiftPM links it (see `Fuzz.runDriver`).
@_cdecl("FuzzHTTPRequest_main")
public func fuzzHTTPRequestMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    Fuzz.runDriver(argc, argv, fuzz)
}
