import HeraldTestSupport
import Testing
@testable import HeraldWire

/// Issue 18: a head already whole in the input is read in one pass (`parseWholeHead`) instead of
/// line by line. Generated and mutated heads, at and past every limit and with every refusal,
/// must give the same events, the same error and the same consumed bytes both ways, fed whole,
/// byte by byte (which leaves the whole-head path nothing to read) and in random pieces.
@Suite struct HTTPWholeHeadEquivalenceTests {
    /// One feeding: events (body pieces joined), each with the bytes consumed when it came,
    /// the error, and the bytes consumed in all.
    struct Outcome: Equatable, CustomStringConvertible {
        var events: [HTTPCollected] = []
        var consumedAt: [Int] = []
        var error: HTTPParseError?
        var consumed = 0

        var description: String {
            "events \(events) at \(consumedAt), error \(error.map { "\($0)" } ?? "none"), consumed \(consumed)"
        }
    }

    static func run(_ chunks: [[UInt8]], limits: HTTPParserLimits, wholeHeadPath: Bool) -> Outcome {
        var parser = HTTPRequestParser(limits: limits)
        parser.wholeHeadPath = wholeHeadPath
        var out = Outcome()
        let fed = HTTPParserHarness.feed(chunks, to: &parser) { event, consumed in
            switch event {
            case .head(let head): out.events.append(.head(head))
            case .end: out.events.append(.end)
            case .body(let piece):
                if case .body(let sofar)? = out.events.last {
                    out.events[out.events.count - 1] = .body(sofar + piece)
                    out.consumedAt.removeLast()
                } else {
                    out.events.append(.body(piece))
                }
            }
            out.consumedAt.append(consumed)
        }
        out.error = fed.error
        out.consumed = fed.consumed
        return out
    }

    /// The same head both ways, down to what handlers read from it.
    static func sameHeads(_ a: Outcome, _ b: Outcome) -> Bool {
        for (x, y) in zip(a.events, b.events) {
            guard case .head(let h1) = x, case .head(let h2) = y else { continue }
            guard h1.headers.fields == h2.headers.fields, h1.path == h2.path, h1.query == h2.query,
                h1.target == h2.target, h1.method == h2.method, h1.keepAlive == h2.keepAlive,
                h1.expectsContinue == h2.expectsContinue, h1.bodyFraming == h2.bodyFraming
            else { return false }
            for field in h1.headers.fields {
                guard h1.headers.valueBytes(name: field.name) == h2.headers.valueBytes(name: field.name),
                    h1.headers.values(name: field.name) == h2.headers.values(name: field.name)
                else { return false }
            }
            var e1: [[UInt8]] = [], e2: [[UInt8]] = []
            h1.headers.forEachField { e1.append(Array($0) + [0] + Array($1)) }
            h2.headers.forEachField { e2.append(Array($0) + [0] + Array($1)) }
            guard e1 == e2 else { return false }
        }
        return true
    }

    // MARK: generated heads

    static let methods = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "get", "G@T", "GE T", ""]
    static let targets = [
        "/", "/pub/t17", "/api/tasks/b123/progress", "/ws?topic=task:b1&token=abc.def", "*", "http://h/x?y",
        "HTTPS://Host:8080", "http://h?q=1", "https://a@b/", "/a#b", "/caf\u{E9}", "/" + String(repeating: "x", count: 40),
        "/a b", "ftp://h/", "http:///x", "/?", "/%20?a=%zz",
    ]
    static let versions = ["HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "http/1.1", "HTTP/1.10", "HTTP/1.", "HTTP/1.1 "]
    static let fields = [
        "Host: h", "host:h", "Host:  example.com  ", "HOST: a", "Content-Length: 5", "Content-Length: 0",
        "content-length: 5, 5", "Content-Length: +5", "Content-Length: 99999999999999999999999", "Content-Length: 5000",
        "Content-Length:", "Transfer-Encoding: chunked", "transfer-encoding: gzip, chunked", "Transfer-Encoding: chunked, gzip",
        "Transfer-Encoding: CHUNKED", "Connection: close", "Connection: keep-alive, Upgrade", "Upgrade: websocket",
        "X-Empty:", "X-Tab:\tv\t", "X-Obs: caf\u{E9}", "X-Kelvin: \u{212A}eep-alive", "Bad Name: x", "Name : x", "Name\t: x",
        " folded", "\tfolded", "NoColon", ":novalue", "X: a\u{0}b", "X: a\u{7F}", "X: a\u{1}", "Expect: 100-continue",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc", "Accept: */*", "User-Agent: wsbench/1.0",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13", "x:y", "X-Colons: a:b:c",
    ]
    static let interesting: [UInt8] = [0x0D, 0x0A, 0x20, 0x09, 0x3A, 0x80, 0xFF, 0xC3, 0x00, 0x7F, 0x40, 0x23, 0x2C, 0x41]

    /// A request (head, then a body its framing asks for), maybe two pipelined, maybe with
    /// leading empty lines, maybe mutated; and limits at, below or past its head's size.
    static func generate(_ rng: inout FeedSplits.SeededGenerator) -> (bytes: [UInt8], limits: HTTPParserLimits) {
        var bytes: [UInt8] = []
        var headSize = 0
        var fieldCount = 0
        for request in 0..<(Int.random(in: 0..<4, using: &rng) == 0 ? 2 : 1) {
            let leading = [0, 0, 0, 1, 2, 4, 5].randomElement(using: &rng)!
            for _ in 0..<leading { bytes += [0x0D, 0x0A] }
            let wellFormed = Int.random(in: 0..<3, using: &rng) > 0
            let method = wellFormed ? ["GET", "POST", "PUT"].randomElement(using: &rng)! : methods.randomElement(using: &rng)!
            let target = wellFormed ? Array(targets.prefix(4)).randomElement(using: &rng)! : targets.randomElement(using: &rng)!
            let version = wellFormed ? "HTTP/1.1" : versions.randomElement(using: &rng)!
            var head = "\(method) \(target) \(version)\r\n"
            var chosen: [String] = []
            if wellFormed || Bool.random(using: &rng) { chosen.append("Host: h") }
            for _ in 0..<Int.random(in: 0...6, using: &rng) {
                chosen.append(wellFormed ? Array(fields.suffix(6)).randomElement(using: &rng)! : fields.randomElement(using: &rng)!)
            }
            var body: [UInt8] = []
            if wellFormed && Bool.random(using: &rng) {
                chosen.append("Content-Length: 5")
                body = Array("hello".utf8)
            } else if chosen.contains(where: { $0.lowercased().hasPrefix("transfer-encoding") }) {
                body = Array("5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n".utf8)
            } else if chosen.contains(where: { $0.lowercased().hasPrefix("content-length: 5") }) {
                body = Array("hello".utf8)
            }
            chosen.shuffle(using: &rng)
            for field in chosen { head += field + "\r\n" }
            head += "\r\n"
            if request == 0 {
                headSize = head.utf8.count
                fieldCount = chosen.count
            }
            bytes += Array(head.utf8) + body
        }
        if Int.random(in: 0..<3, using: &rng) == 0 {
            for _ in 0..<Int.random(in: 1...3, using: &rng) where !bytes.isEmpty {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                let byte = Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[at] = byte
                case 1: bytes.insert(byte, at: at)
                default: bytes.remove(at: at)
                }
            }
        }
        var limits = HTTPParserLimits.default
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: limits.maxHeadBytes = max(1, headSize + Int.random(in: -2...1, using: &rng))
        case 1: limits.maxHeaderCount = max(0, fieldCount + Int.random(in: -1...1, using: &rng))
        case 2: limits.maxBodyBytes = Int.random(in: 0...6, using: &rng)
        case 3: limits = HTTPParserLimits(maxHeadBytes: Int.random(in: 1...80, using: &rng), maxHeaderCount: Int.random(in: 0...3, using: &rng), maxBodyBytes: 4)
        default: break
        }
        return (bytes, limits)
    }

    /// Both paths, four ways of feeding, on one input.
    static func check(_ bytes: [UInt8], _ limits: HTTPParserLimits, _ label: String) -> Bool {
        let whole = run([bytes], limits: limits, wholeHeadPath: true)
        let lineByLine = run([bytes], limits: limits, wholeHeadPath: false)
        #expect(whole == lineByLine, "\(label): whole-head \(whole)\nline by line \(lineByLine)")
        #expect(sameHeads(whole, lineByLine), "\(label): heads differ")
        let byteByByte = run(FeedSplits.byteByByte(bytes), limits: limits, wholeHeadPath: true)
        let split = run(FeedSplits.random(bytes, seed: UInt64(bytes.count)), limits: limits, wholeHeadPath: true)
        for (name, other) in [("byte by byte", byteByByte), ("random split", split)] {
            #expect(other.events == whole.events && other.error == whole.error && other.consumed == whole.consumed,
                "\(label): \(name) \(other)\nwhole \(whole)")
            #expect(sameHeads(whole, other), "\(label): \(name): heads differ")
        }
        return whole == lineByLine && sameHeads(whole, lineByLine)
    }

    @Test func generatedAndMutatedHeadsGiveTheSameOutcomeBothWays() {
        var rng = FeedSplits.SeededGenerator(seed: 18)
        var wholeHeads = 0
        for n in 0..<4000 {
            let (bytes, limits) = Self.generate(&rng)
            let label = "case \(n) \(String(decoding: bytes, as: UTF8.self).debugDescription) limits \(limits.maxHeadBytes)/\(limits.maxHeaderCount)/\(limits.maxBodyBytes)"
            guard Self.check(bytes, limits, label) else { return }  // one failure is enough to read

            // The whole-head path alone, on the input after its leading empty lines: it takes
            // exactly the ASCII heads the line-by-line path accepts, and leaves the rest to it.
            var start = 0
            while start + 1 < bytes.count, bytes[start] == 0x0D, bytes[start + 1] == 0x0A { start += 2 }
            guard start < bytes.count, bytes[start] != 0x0A, bytes[start] != 0x0D else { continue }
            let rest = Array(bytes[start...])
            let reference = Self.run([rest], limits: limits, wholeHeadPath: false)
            var parser = HTTPRequestParser(limits: limits)
            var buffer = ByteBuffer(rest)
            let head = parser.parseWholeHead(&buffer)
            if case .head(let expected)? = reference.events.first {
                let headBytes = rest[..<reference.consumedAt[0]]
                if headBytes.allSatisfy({ $0 < 0x80 }) {
                    #expect(head == expected, "\(label): the whole-head path left an ASCII head it should take")
                    #expect(rest.count - buffer.readableBytes == headBytes.count, "\(label): consumed")
                    wholeHeads += 1
                } else {
                    #expect(head == nil, "\(label): obs-text taken by the whole-head path")
                }
            } else {
                #expect(head == nil, "\(label): the whole-head path took a head the other refuses")
                #expect(buffer.readableBytes == rest.count, "\(label): consumed on refusal")
            }
        }
        #expect(wholeHeads > 1000, "only \(wholeHeads) heads went the whole-head way")
    }

    /// Every limit at and one past a fixed head, and each refusal, by name.
    @Test func limitsAndRefusalsAtTheEdges() {
        let head = "GET /api/tasks/b1/progress?x=1 HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-B:\t2 \r\n\r\n"
        let size = head.utf8.count
        for maxHead in (size - 3)...(size + 2) {
            for maxCount in 0...4 {
                let limits = HTTPParserLimits(maxHeadBytes: maxHead, maxHeaderCount: maxCount)
                #expect(Self.check(Array(head.utf8), limits, "head \(maxHead) count \(maxCount)"))
                #expect(Self.check(Array(("\r\n\r\n" + head + head).utf8), limits, "pipelined \(maxHead) count \(maxCount)"))
            }
        }
        let refusals = [
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",  // CL+TE
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nab",  // repeated CL
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\nab",
            "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",  // obs-fold
            "GET / HTTP/1.1\r\n Host: h\r\n\r\n",
            "GET / HTTP/1.1\rHost: h\r\n\r\n",  // bare CR
            "GET / HTTP/1.1\r\nHost: h\n\r\n",  // bare LF
            "GET / HTTP/1.1\r\nHost: h\r\n\n",
            "GET / HTTP/1.1\r\nHost : h\r\n\r\n",  // whitespace before colon
            "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",  // too many leading empty lines
            "\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",  // as many as tolerated
            "\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: caf\u{E9}\r\nX: \u{FF}\r\n\r\n",  // obs-text (valid UTF-8)
            "GET / HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n", "GET / HTTP/1.1\r\n\r\n", "GET / HTTP/1.0\r\n\r\n",
            "GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "GET / HTTP/3.0\r\nHost: h\r\n\r\n",
            "GET http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n", "GET / HTTP/1.1\r\nHost: h\r\nX\u{0}: 1\r\n\r\n",
        ]
        for text in refusals {
            var bytes = Array(text.utf8)
            #expect(Self.check(bytes, .default, text.debugDescription))
            bytes = bytes.map { $0 == 0xA9 ? 0xFF : $0 }  // invalid UTF-8: decoded lossily on the other path
            #expect(Self.check(bytes, .default, "invalid UTF-8 \(text.debugDescription)"))
        }
    }

    /// The previous `parseField` (on the line's `[UInt8]`, by slice operations), the reference
    /// for the one on the line's contiguous bytes that both paths now share.
    static func referenceParseField(_ line: [UInt8]) throws(HTTPParseError) -> (name: Range<Int>, value: Range<Int>, ascii: Bool) {
        let sp = UInt8(ascii: " "), htab = UInt8(ascii: "\t")
        guard let first = line.first, first != sp, first != htab else { throw .obsFold }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw .badHeaderLine }
        let name = line[..<colon]
        if let last = name.last, last == sp || last == htab { throw .spaceBeforeColon }
        guard !name.isEmpty, name.allSatisfy(HTTPRequestParser.isTokenChar) else { throw .badHeaderName }
        var start = colon + 1
        var end = line.endIndex
        while start < end, line[start] == sp || line[start] == htab { start += 1 }
        while end > start, line[end - 1] == sp || line[end - 1] == htab { end -= 1 }
        var ascii = true
        for c in line[start..<end] {
            guard (c >= 0x20 && c != 0x7F) || c == htab else { throw .badHeaderValue }
            if c >= 0x80 { ascii = false }
        }
        return (0..<colon, start..<end, ascii)
    }

    @Test func parseFieldAnswersAsBefore() {
        var rng = FeedSplits.SeededGenerator(seed: 5)
        var lines = Self.fields.map { Array($0.utf8) } + [[], [0x3A], [0x20], [0x41, 0x20, 0x3A], [0x41, 0x3A, 0x20, 0x09]]
        for byte in 0...255 as ClosedRange<UInt8> {  // every byte in a name, a value, and at a value's ends
            lines += [[0x58, byte, 0x3A, 0x20, 0x61], [0x58, 0x3A, 0x20, 0x61, byte, 0x62], [0x58, 0x3A, byte], [0x58, 0x3A, byte, 0x61, byte]]
        }
        for _ in 0..<3000 {
            var line = Array(Self.fields.randomElement(using: &rng)!.utf8)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let byte = Bool.random(using: &rng) ? Self.interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
                let at = Int.random(in: 0...line.count, using: &rng)
                if at < line.count && Bool.random(using: &rng) { line[at] = byte } else { line.insert(byte, at: at) }
            }
            lines.append(line)
        }
        for line in lines {
            let expected = Result { () throws(HTTPParseError) in try Self.referenceParseField(line) }
            for prefix in [0, 3] {  // a slice at 0, as the line-by-line path passes, and one inside a head
                let head = [UInt8](repeating: 0x41, count: prefix) + line + [0x0D, 0x0A]
                let got = Result { () throws(HTTPParseError) in try HTTPRequestParser.parseField(head[prefix..<(prefix + line.count)]) }
                switch (expected, got) {
                case (.failure(let a), .failure(let b)):
                    #expect(a == b, "\(line)")
                case (.success(let a), .success(let b)):
                    #expect(a.name == b.name.lowerBound - prefix..<b.name.upperBound - prefix, "\(line)")
                    #expect(a.value == b.value.lowerBound - prefix..<b.value.upperBound - prefix, "\(line)")
                    #expect(a.ascii == b.ascii, "\(line)")
                default:
                    Issue.record("\(line): \(expected) vs \(got)")
                }
            }
        }
    }

    @Test func tokenCharsAreRFC9110s() {
        let delimiters = Set("\"(),/:;<=>?@[\\]{}".utf8)
        for c in 0...255 {
            let byte = UInt8(c)
            let expected = byte > 0x20 && byte < 0x7F && !delimiters.contains(byte)
            #expect(HTTPRequestParser.isTokenChar(byte) == expected, "\(c)")
        }
    }

    /// Methods as literals or decoded, and the target split at its first `?` on the bytes, as
    /// the previous split of the origin-form String did.
    @Test func requestLinePartsAsBefore() throws {
        let methods = ["GET", "PUT", "POST", "HEAD", "DELETE", "OPTIONS", "GEt", "GETS", "PUSH", "DELETe", "M-SEARCH", "P"]
        let targets = ["/", "/a?b", "/a?b?c", "/?", "/a?", "/a%20b?x=1&y=%3F", "http://h/p?q", "https://h?q=1", "http://h",
                       "HTTP://H:80/x?", "*"]
        for method in methods {
            for target in targets {
                let text = "\(method) \(target) HTTP/1.1"
                guard let line = try? HTTPRequestParser.parseRequestLine(Array(text.utf8)[...]) else {
                    #expect(target == "*" && method != "OPTIONS", "\(text)")
                    continue
                }
                #expect(line.method == method && line.target == target, "\(text)")
                var originForm = target
                if !target.hasPrefix("/") && target != "*" {
                    let afterScheme = target.drop { $0 != ":" }.dropFirst(3)
                    let rest = afterScheme.drop { $0 != "/" && $0 != "?" }
                    originForm = rest.hasPrefix("/") ? String(rest) : "/" + rest
                }
                let reference = HTTPRequestHead(method: method, target: originForm)  // splits by Character
                #expect(line.path == reference.path && line.query == reference.query, "\(text): \(line.path) \(line.query ?? "nil")")
            }
        }
    }

    /// The word test the whole-head path skips ordinary bytes with, against the bytes one by one.
    @Test func wordTestFindsEveryLineEndAndHighByte() {
        var rng = FeedSplits.SeededGenerator(seed: 8)
        for n in 0..<200_000 {
            var bytes = (0..<8).map { _ in UInt8.random(in: 0x20...0x7E, using: &rng) }
            for _ in 0..<(n % 3) {
                bytes[Int.random(in: 0..<8, using: &rng)] = [0x0D, 0x0A, 0x80, 0xFF, 0x00, 0x0B, 0x0C, 0x8D, 0x8A, 0x7F]
                    .randomElement(using: &rng)!
            }
            let word = bytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            let expected = bytes.contains { $0 == 0x0D || $0 == 0x0A || $0 >= 0x80 }
            #expect(HTTPRequestParser.hasLineEndOrHighByte(word) == expected, "\(bytes)")
            if HTTPRequestParser.hasLineEndOrHighByte(word) != expected { return }
        }
    }
}
