import Testing
@testable import HeraldWire

/// Issue 18: a request's header fields are kept as bytes (Strings made only when asked for) and
/// its head is a copy-on-write box. The accessors answer as the String fields did.
@Suite struct HTTPHeaderBytesTests {
    typealias H = HTTPParserHarness

    static let request = "POST /api/tasks/b1/progress?x=1 HTTP/1.1\r\nHost: h\r\nX-Twice: one\r\nCONTENT-length: 2\r\n"
        + "x-twice:  two \t\r\nContent-Type: application/json\r\n\r\n{}"

    @Test func parsedFieldsAreTheStringFields() throws {
        let head = try #require(H.head(Self.request))
        #expect(head.headers.fields == [
            .init(name: "Host", value: "h"), .init(name: "X-Twice", value: "one"), .init(name: "CONTENT-length", value: "2"),
            .init(name: "x-twice", value: "two"), .init(name: "Content-Type", value: "application/json"),
        ])
        #expect(head.headers == ["Host": "h", "X-Twice": "one", "CONTENT-length": "2", "x-twice": "two",
                                 "Content-Type": "application/json"])
        #expect(head.bodyFraming == .contentLength(2))
        #expect(head.path == "/api/tasks/b1/progress" && head.query == "x=1")
    }

    @Test func lookupIsCaseInsensitiveOnTheBytes() throws {
        let headers = try #require(H.head(Self.request)).headers
        for name in ["content-type", "CONTENT-TYPE", "Content-Type", "cOnTeNt-TyPe"] {
            #expect(headers[name] == "application/json")
            #expect(headers.valueBytes(name: name).map(Array.init) == Array("application/json".utf8))
            #expect(headers.contains(name: name))
        }
        #expect(headers["content-typ"] == nil && headers["content-typee"] == nil && headers.valueBytes(name: "x") == nil)
        #expect(!headers.contains(name: "content_type"))
    }

    @Test func repeatedFieldsStayApartInOrder() throws {
        var headers = try #require(H.head(Self.request)).headers
        #expect(headers.values(name: "X-TWICE") == ["one", "two"])
        #expect(headers["x-twice"] == "one")
        #expect(headers.count(name: "x-twice").count == 2 && headers.count(name: "x-twice").first == "one")
        headers.replaceOrAdd(name: "X-Twice", value: "three")
        #expect(headers.values(name: "x-twice") == ["three"])
        #expect(headers.count == 4)
        #expect(headers.fields.last == .init(name: "X-Twice", value: "three"))
        headers.remove(name: "host")
        #expect(headers["host"] == nil && headers.count == 3 && headers["content-length"] == "2")
    }

    @Test func obsTextIsDecodedLossilyAsBefore() throws {
        let bytes = Array("GET / HTTP/1.1\r\nHost: h\r\nX-A: caf".utf8) + [0xC3, 0xA9, 0x20, 0xFF] + Array("!\r\n\r\n".utf8)
        let run = H.run([bytes])
        guard case .head(let head)? = run.events.first else {
            Issue.record("no head: \(String(describing: run.error))")
            return
        }
        #expect(head.headers["x-a"] == "caf\u{E9} \u{FFFD}!")
        #expect(head.headers == ["Host": "h", "X-A": "caf\u{E9} \u{FFFD}!"])
        // The stored bytes are the decoded String's, valid UTF-8.
        #expect(head.headers.valueBytes(name: "x-a").map(Array.init) == Array("caf\u{E9} \u{FFFD}!".utf8))
    }

    @Test func obsFoldAndControlBytesAreStillRefused() {
        H.expectFails([UInt8]("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n"), status: 400, code: "obs_fold")
        for bad: UInt8 in [0x00, 0x01, 0x0B, 0x1F, 0x7F] {
            let bytes = Array("GET / HTTP/1.1\r\nHost: h\r\nX-A: a".utf8) + [bad] + Array("b\r\n\r\n".utf8)
            H.expectFails(bytes, status: 400, code: "bad_header_value", splits: [("whole", [bytes])])
        }
        H.expectFails([UInt8]("GET / HTTP/1.1\r\nHost: h\r\nX A: a\r\n\r\n"), status: 400, code: "bad_header_name")
        H.expectFails([UInt8]("GET / HTTP/1.1\r\nHost: h\r\nX-A : a\r\n\r\n"), status: 400, code: "space_before_colon")
    }

    @Test func framingFieldsAreFoundInOnePassAsBefore() {
        H.expectFails([UInt8]("GET / HTTP/1.1\r\nHOST: a\r\nhost: b\r\n\r\n"), status: 400, code: "duplicate_host")
        H.expectFails([UInt8]("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n"), status: 400, code: "missing_host")
        H.expectFails([UInt8]("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
                      status: 400, code: "te_and_cl")
        H.expectFails([UInt8]("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\ncontent-length: 1\r\n\r\n"),
                      status: 400, code: "conflicting_content_length")
        #expect(H.head("POST / HTTP/1.1\r\nHost: a\r\ncontent-LENGTH: 0\r\n\r\n")?.bodyFraming == .contentLength(0))
        #expect(H.head("POST / HTTP/1.1\r\nHost: a\r\nX-Content-Length: 5\r\n\r\n")?.bodyFraming == HTTPBodyFraming.none)
    }

    @Test func headerCountAtAndPastTheLimit() {
        var limits = HTTPParserLimits.default
        limits.maxHeaderCount = 3
        H.expectParses([UInt8]("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n"),
                       [.head(HTTPRequestHead(method: "GET", target: "/", headers: ["Host": "h", "A": "1", "B": "2"])), .end],
                       limits: limits)
        H.expectFails([UInt8]("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), status: 431, code: "too_many_headers",
                      limits: limits)
    }

    @Test func copiesAreIndependent() throws {
        let original = try #require(H.head(Self.request))
        var copy = original
        copy.headers.add(name: "X-New", value: "1")
        copy.method = "PUT"
        copy.path = "/other"
        #expect(original.method == "POST" && original.path == "/api/tasks/b1/progress" && original.headers["x-new"] == nil)
        #expect(copy.method == "PUT" && copy.path == "/other" && copy.headers["x-new"] == "1")
        #expect(copy != original)
        var again = copy
        again.method = "POST"
        again.path = "/api/tasks/b1/progress"
        again.headers.remove(name: "x-new")
        #expect(again == original)
        #expect(copy.method == "PUT")
    }

    @Test func forEachFieldGivesTheBytes() {
        let headers: HTTPHeaders = ["A": "1", "Content-Type": "text/plain; charset=utf-8", "É": "ü"]
        var seen: [(String, String)] = []
        headers.forEachField { name, value in
            seen.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        #expect(seen.map(\.0) == headers.fields.map(\.name) && seen.map(\.1) == headers.fields.map(\.value))
        #expect(headers.byteCount == headers.fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count })
    }

    /// Equality is the String fields' (same names and values in the same order), whatever the
    /// bytes' layout, and headers with more or fewer fields are never equal.
    @Test func equalityIsTheStringFields() throws {
        let parsed = try #require(H.head(Self.request)).headers
        var built = HTTPHeaders()
        for field in parsed.fields { built.add(name: field.name, value: field.value) }
        #expect(parsed == built && built == parsed)
        var longer = built
        longer.add(name: "X", value: "")
        var shorter = HTTPHeaders()
        for field in parsed.fields.dropLast() { shorter.add(name: field.name, value: field.value) }
        for other in [longer, shorter, HTTPHeaders(), ["Content-Type": "application/json"]] {
            #expect(other != parsed && parsed != other)
            #expect((other.fields == parsed.fields) == (other == parsed))
        }
        #expect(HTTPHeaders() == HTTPHeaders())
        #expect((["Content-Type": "application/json"] as HTTPHeaders) == ["Content-Type": "application/json"])
        #expect((["Content-Type": "application/json"] as HTTPHeaders) != ["content-type": "application/json"])
    }
}
