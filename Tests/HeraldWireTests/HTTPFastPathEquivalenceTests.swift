import Testing
@testable import HeraldWire

/// Issue 18 replaced a few per-request computations with byte-level fast paths. Each is held
/// here to the implementation it replaced (kept in the test as the reference), on ordinary
/// input and on the odd cases where bytes and Characters disagree (non-ASCII, combining marks,
/// the Kelvin sign that lower-cases to ASCII `k`).
@Suite struct HTTPFastPathEquivalenceTests {
    /// The previous `HTTPHeaders.tokens(name:).contains(token)`.
    static func referenceContainsToken(_ headers: HTTPHeaders, _ token: String, name: String) -> Bool {
        headers.tokens(name: name).contains(token)
    }

    static let values = [
        "close", "Close", " CLOSE ", "keep-alive", "Keep-Alive, Upgrade", "upgrade,close", ",,close,,", "",
        " ", "\tclose\t", "clos", "closed", "x, keep-alive", "\u{212A}eep-alive", "close\u{301}", ",\u{301}close",
        "caf\u{E9}, close", "ke\u{301}ep-alive", "UPGRADE", "websocket", "WebSocket ,foo",
    ]

    @Test func containsTokenAnswersAsTheTokenList() {
        for token in ["close", "keep-alive", "upgrade", "websocket"] {
            for value in Self.values {
                for second in [nil, "close", "\u{212A}EEP-ALIVE"] as [String?] {
                    var headers = HTTPHeaders()
                    headers.add(name: "Connection", value: value)
                    headers.add(name: "Upgrade", value: value)
                    if let second { headers.add(name: "connection", value: second) }
                    for name in ["connection", "upgrade"] {
                        let fast: Bool
                        switch token {
                        case "close": fast = headers.containsToken("close", name: name)
                        case "keep-alive": fast = headers.containsToken("keep-alive", name: name)
                        case "upgrade": fast = headers.containsToken("upgrade", name: name)
                        default: fast = headers.containsToken("websocket", name: name)
                        }
                        #expect(fast == Self.referenceContainsToken(headers, token, name: name), "\(token) in \(name): \(value) / \(second ?? "-")")
                    }
                }
            }
        }
    }

    @Test func expectsContinueAsBefore() {
        for value in ["100-continue", " 100-Continue ", "100-continue, x", "", "\u{212A}", "100-continue\u{301}"] {
            var headers = HTTPHeaders()
            headers.add(name: "Expect", value: value)
            let head = HTTPRequestHead(method: "POST", target: "/", headers: headers)
            #expect(head.expectsContinue == (value.trimmingHTTPWhitespace().lowercased() == "100-continue"), "\(value)")
        }
    }

    @Test func equalNamesAsBefore() {
        func reference(_ a: String, _ b: String) -> Bool {
            let a = a.utf8, b = b.utf8
            guard a.count == b.count else { return false }
            for (x, y) in zip(a, b) where x != y {
                guard x | 0x20 == y | 0x20, (0x61...0x7A).contains(x | 0x20) else { return false }
            }
            return true
        }
        let names = ["Host", "host", "HOST", "Content-Length", "content-length", "a@", "a`", "", "é", "É", "x-Ü", "X-ü"]
        for a in names {
            for b in names { #expect(HTTPHeaders.equalNames(a, b) == reference(a, b), "\(a) \(b)") }
        }
    }

    @Test func decimalFieldAsAString() {
        for n in [0, 1, 9, 10, 99, 202, 1037, 65_536, 1 << 20, Int.max] {
            var fast: [UInt8] = []
            HTTPResponseEncoder.appendField(name: "Content-Length", decimal: n, to: &fast)
            var reference: [UInt8] = []
            HTTPResponseEncoder.appendField(name: "Content-Length", value: String(n), to: &reference)
            #expect(fast == reference)
        }
    }

    @Test func dateFormatAsTheInterpolation() {
        let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func pad2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        func reference(_ t: Int) -> String {
            let days = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
            let secs = t - days * 86_400
            let (y, m, d) = HTTPDate.civil(fromDays: days)
            let weekday = weekdays[((days % 7) + 7) % 7]
            return "\(weekday), \(pad2(d)) \(months[m - 1]) \(y) \(pad2(secs / 3600)):\(pad2(secs / 60 % 60)):\(pad2(secs % 60)) GMT"
        }
        var t = -62_000_000_000
        while t < 260_000_000_000 {
            #expect(HTTPDate.format(secondsSince1970: t) == reference(t))
            t += 7_919_993_617  // a prime stride: every field moves
        }
        for t in [0, 59, 3599, 86_399, 784_111_777, 946_684_799, 946_684_800, 1_800_000_000, 253_402_300_799, 253_402_300_800] {
            #expect(HTTPDate.format(secondsSince1970: t) == reference(t))
        }
    }

    @Test func requestLineSplitAsBefore() {
        // `split(separator: sp, omittingEmptySubsequences: false)` into exactly three non-empty parts.
        let lines = ["GET / HTTP/1.1", "GET  / HTTP/1.1", "GET / HTTP/1.1 ", " GET / HTTP/1.1", "GET /", "GET / HTTP/1.1 x",
                     "GET/ HTTP/1.1", "", " ", "  ", "GET / ", "G / H"]
        for line in lines {
            let parts = Array(line.utf8).split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            let referenceOK = parts.count == 3 && parts.allSatisfy { !$0.isEmpty }
            var fastOK = true
            do {
                _ = try HTTPRequestParser.parseRequestLine(Array(line.utf8)[...])
            } catch {
                fastOK = error != .badRequestLine
            }
            #expect(fastOK == referenceOK, "\(line)")
        }
    }
}
