import Testing
@testable import HeraldWire

/// Malformed and smuggling-shaped requests: each is refused with an exact status and code,
/// however the bytes are split.
@Suite struct HTTPRequestParserErrorTests {
    typealias H = HTTPParserHarness

    /// A request head with `lines` between the request line and the blank line.
    static func request(_ requestLine: String, _ lines: [String]) -> [UInt8] {
        [UInt8](([requestLine] + lines).map { $0 + "\r\n" }.joined() + "\r\n")
    }

    /// A GET / HTTP/1.1 with these field lines.
    static func request(_ lines: [String]) -> [UInt8] { request("GET / HTTP/1.1", lines) }

    // MARK: line endings (RFC 9112 §2.2)

    @Test func bareLFEndingTheRequestLineIs400() {
        H.expectFails([UInt8]("GET / HTTP/1.1\nHost: h\r\n\r\n"), status: 400, code: "bare_lf")
    }

    @Test func bareLFEndingAFieldIs400() {
        H.expectFails([UInt8]("GET / HTTP/1.1\r\nHost: h\n\r\n"), status: 400, code: "bare_lf")
        H.expectFails([UInt8]("GET / HTTP/1.1\r\nHost: h\r\n\n"), status: 400, code: "bare_lf")
    }

    @Test func bareCRInsideALineIs400() {
        H.expectFails([UInt8]("GET / HTTP/1.1\rHost: h\r\n\r\n"), status: 400, code: "bare_cr")
        H.expectFails([UInt8]("GET / HTTP/1.1\r\nX: a\rb\r\nHost: h\r\n\r\n"), status: 400, code: "bare_cr")
        H.expectFails([UInt8]("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n"), status: 400, code: "bare_cr")
    }

    @Test func bareLineEndsBeforeTheRequestLineAre400() {
        H.expectFails([UInt8]("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), status: 400, code: "bare_lf")
        H.expectFails([UInt8]("\r\rGET / HTTP/1.1\r\nHost: h\r\n\r\n"), status: 400, code: "bare_cr")
    }

    // MARK: request line (RFC 9112 §3)

    @Test func requestLineWithoutExactlySingleSpacesIs400() {
        for line in [
            "GET  / HTTP/1.1", "GET / HTTP/1.1 ", " GET / HTTP/1.1", "GET /  HTTP/1.1", "GET\t/ HTTP/1.1",
            "GET /", "GET / HTTP/1.1 extra", "GET",
        ] {
            H.expectFails(Self.request(line, ["Host: h"]), status: 400, code: "bad_request_line", context: line)
        }
    }

    @Test func methodThatIsNotATokenIs400() {
        for line in ["GE(T / HTTP/1.1", "G@T / HTTP/1.1", "GET\u{7F} / HTTP/1.1", "GÉT / HTTP/1.1", "G\u{1}T / HTTP/1.1"] {
            H.expectFails(Self.request(line, ["Host: h"]), status: 400, code: "bad_method", context: line)
        }
    }

    @Test func targetThatIsNoKnownFormIs400() {
        for target in [
            "foo", "*", "/a\u{7F}", "/a#frag", "/caf\u{E9}", "/a\u{1}b", "http:///x", "http://user@host/",
            "host:443", "ftp://h/", "http:/h/",
        ] {
            let line = "GET \(target) HTTP/1.1"
            H.expectFails(Self.request(line, ["Host: h"]), status: 400, code: "bad_target", context: line)
        }
        H.expectFails(Self.request("CONNECT host:443 HTTP/1.1", ["Host: host:443"]), status: 400, code: "bad_target")
        H.expectFails([UInt8]("GET /a") + [0] + [UInt8](" HTTP/1.1\r\nHost: h\r\n\r\n"), status: 400, code: "bad_target")
    }

    @Test func wellFormedVersionOtherThan10Or11Is505() {
        for version in ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.1"] {
            H.expectFails(
                Self.request("GET / \(version)", ["Host: h"]), status: 505, code: "version_not_supported",
                context: version)
        }
    }

    @Test func malformedVersionIs400() {
        for version in ["http/1.1", "HTTP/11", "HTTP/1.x", "HTTPS/1.1", "HTTP/1.1.1", "HTTP/1.", "HTTP/10.0", "1.1"] {
            H.expectFails(
                Self.request("GET / \(version)", ["Host: h"]), status: 400, code: "bad_version", context: version)
        }
    }

    // MARK: header fields (RFC 9112 §5)

    @Test func obsFoldIs400() {
        H.expectFails(Self.request(["Host: h", "X-A: b", " c"]), status: 400, code: "obs_fold")
        H.expectFails(Self.request(["Host: h", "X-A: b", "\tc"]), status: 400, code: "obs_fold")
    }

    @Test func whitespaceBeforeTheFirstFieldIs400() {
        // RFC 9112 §2.2: a field line starting with whitespace right after the request line.
        H.expectFails(Self.request([" Host: h"]), status: 400, code: "obs_fold")
    }

    @Test func whitespaceBetweenFieldNameAndColonIs400() {
        H.expectFails(Self.request(["Host : h"]), status: 400, code: "space_before_colon")
        H.expectFails(
            Self.request("POST / HTTP/1.1", ["Host: h", "Content-Length\t: 5"]), status: 400,
            code: "space_before_colon")
        H.expectFails(
            Self.request("POST / HTTP/1.1", ["Host: h", "Transfer-Encoding : chunked"]), status: 400,
            code: "space_before_colon")
    }

    @Test func fieldLineWithoutColonIs400() {
        H.expectFails(Self.request(["Host: h", "no colon here"]), status: 400, code: "bad_header_line")
    }

    @Test func fieldNameThatIsNotATokenIs400() {
        for line in [": x", "X(y): z", "X Y: z", "Caf\u{E9}: z", "X\"Y: z"] {
            H.expectFails(Self.request(["Host: h", line]), status: 400, code: "bad_header_name", context: line)
        }
    }

    @Test func controlCharacterInAFieldValueIs400() {
        for value in ["a\u{0}b", "a\u{7F}", "\u{1}", "a\u{1B}[31m"] {
            H.expectFails(
                Self.request(["Host: h", "X: \(value)"]), status: 400, code: "bad_header_value", context: value)
        }
    }

    @Test func missingHostIn11Is400() {
        H.expectFails(Self.request(["Accept: */*"]), status: 400, code: "missing_host", headEmitted: false)
    }

    @Test func duplicateHostIs400In11And10() {
        H.expectFails(Self.request(["Host: a", "Host: b"]), status: 400, code: "duplicate_host")
        H.expectFails(Self.request(["Host: a", "host: a"]), status: 400, code: "duplicate_host")
        H.expectFails(Self.request("GET / HTTP/1.0", ["Host: a", "Host: b"]), status: 400, code: "duplicate_host")
    }

    // MARK: Content-Length (RFC 9112 §6.3)

    @Test func contentLengthThatIsNotDigitsIs400() {
        for value in ["abc", "-1", "+5", "5 5", "0x5", "", "5,", "1e3", "5.0", "\u{663}"] {
            H.expectFails(
                Self.request("POST / HTTP/1.1", ["Host: h", "Content-Length: \(value)"]), status: 400,
                code: "bad_content_length", headEmitted: false, context: value)
        }
    }

    @Test func contentLengthThatOverflowsIs400NotATrap() {
        for value in ["9223372036854775808", "99999999999999999999999999999999999999"] {
            H.expectFails(
                Self.request("POST / HTTP/1.1", ["Host: h", "Content-Length: \(value)"]), status: 400,
                code: "bad_content_length", context: value)
        }
    }

    @Test func differentContentLengthsAre400() {
        H.expectFails(
            Self.request("POST / HTTP/1.1", ["Host: h", "Content-Length: 5", "Content-Length: 6"]), status: 400,
            code: "conflicting_content_length", headEmitted: false)
        H.expectFails(
            Self.request("POST / HTTP/1.1", ["Host: h", "Content-Length: 5, 6"]), status: 400,
            code: "conflicting_content_length")
    }

    @Test func repeatedIdenticalContentLengthsAreRefusedToo() {
        // RFC 9112 §6.3 allows folding `5, 5` into 5; we refuse, a proxy may have read it otherwise.
        H.expectFails(
            Self.request("POST / HTTP/1.1", ["Host: h", "Content-Length: 5", "Content-Length: 5"]), status: 400,
            code: "conflicting_content_length")
        H.expectFails(
            Self.request("POST / HTTP/1.1", ["Host: h", "Content-Length: 5,5"]), status: 400,
            code: "conflicting_content_length")
    }

    @Test func contentLengthWithSurroundingWhitespaceIsFine() {
        let head = H.head("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \t 007 \r\n\r\n")
        #expect(head?.bodyFraming == .contentLength(7))
    }

    // MARK: Transfer-Encoding (RFC 9112 §6.1, §6.3)

    @Test func transferEncodingWithContentLengthIs400() {
        H.expectFails(
            Self.request("POST / HTTP/1.1", ["Host: h", "Content-Length: 5", "Transfer-Encoding: chunked"]),
            status: 400, code: "te_and_cl", headEmitted: false)
        H.expectFails(
            Self.request("POST / HTTP/1.1", ["Host: h", "Transfer-Encoding: chunked", "Content-Length: 5"]),
            status: 400, code: "te_and_cl")
    }

    @Test func transferEncodingInHTTP10Is400() {
        H.expectFails(
            Self.request("POST / HTTP/1.0", ["Transfer-Encoding: chunked"]), status: 400, code: "te_in_http10",
            headEmitted: false)
    }

    @Test func transferEncodingNotEndingInChunkedIs400() {
        // RFC 9112 §6.3: chunked not final → the length cannot be determined, MUST be 400.
        for value in ["gzip", "chunked, gzip", "identity", "", "chunked;q=1", "chunked\u{B}"] {
            H.expectFails(
                Self.request("POST / HTTP/1.1", ["Host: h", "Transfer-Encoding: \(value)"]),
                status: 400, code: value == "chunked\u{B}" ? "bad_header_value" : "chunked_not_final",
                context: value)
        }
    }

    @Test func otherCodingsBeforeChunkedAre501() {
        for fields in [
            ["Transfer-Encoding: gzip, chunked"], ["Transfer-Encoding: chunked, chunked"],
            ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"], ["Transfer-Encoding: deflate", "Transfer-Encoding: chunked"],
        ] {
            H.expectFails(
                Self.request("POST / HTTP/1.1", ["Host: h"] + fields), status: 501,
                code: "unsupported_transfer_encoding", headEmitted: false, context: fields.joined(separator: " | "))
        }
    }
}
