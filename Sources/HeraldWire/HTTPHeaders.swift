/// Header fields in arrival order. Names compare case-insensitively (RFC 9110 §5.1).
///
/// The fields are kept as bytes: every name and value one after the other in one array, and
/// where each field's name and value end in another. A request's fields are appended straight
/// from the parser's line, and a `String` is made only when a handler asks for a value (issue
/// 18: two Strings per field were most of a small request's parse, S2's callgrind profile).
/// The bytes are always valid UTF-8 (the parser decodes obs-text lossily as before).
/// A head the parser read whole keeps its bytes as they came (request line, names, separators,
/// values, CRLFs: one copy, no per-field append), with each field's name and value located in
/// them; fields added later are appended after them.
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Where one field's bytes are in `bytes`: the name is `start..<nameEnd`, the value
    /// `valueStart..<end` (`valueStart` is `nameEnd` for an added field; past the colon and
    /// whitespace for one kept as it came).
    struct Span: Sendable, Equatable {
        var start: Int
        var nameEnd: Int
        var valueStart: Int
        var end: Int
    }

    private var bytes: [UInt8] = []
    private var spans: [Span] = []

    public init() {}

    /// A parsed head's fields, kept in `bytes` as they came: every span lies within `bytes`
    /// (`start ≤ nameEnd ≤ valueStart ≤ end ≤ bytes.count`), and every name and value is valid
    /// UTF-8 (the parser's whole-head path takes ASCII heads only).
    init(parsed bytes: [UInt8], spans: [Span]) {
        self.bytes = bytes
        self.spans = spans
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        for (name, value) in elements { add(name: name, value: value) }
    }

    /// Every field, as Strings.
    public var fields: [Field] { map { $0 } }

    public var count: Int { spans.count }

    public mutating func add(name: String, value: String) {
        let start = bytes.count
        bytes.append(contentsOf: name.utf8)
        let nameEnd = bytes.count
        bytes.append(contentsOf: value.utf8)
        spans.append(Span(start: start, nameEnd: nameEnd, valueStart: nameEnd, end: bytes.count))
    }

    /// A field whose name and value are `line[name]` and `line[value]` (the parser's; both
    /// valid UTF-8), appended without making Strings.
    mutating func add(_ line: [UInt8], name: Range<Int>, value: Range<Int>) {
        let start = bytes.count
        bytes.append(contentsOf: line[name])
        let nameEnd = bytes.count
        bytes.append(contentsOf: line[value])
        spans.append(Span(start: start, nameEnd: nameEnd, valueStart: nameEnd, end: bytes.count))
    }

    /// Replaces every field named `name` with one field.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        add(name: name, value: value)
    }

    public mutating func remove(name: String) {
        guard contains(name: name) else { return }
        let old = self
        self = HTTPHeaders()
        for i in 0..<old.spans.count where !old.nameMatches(i, name) {
            let span = old.spans[i]
            add(old.bytes, name: span.start..<span.nameEnd, value: span.valueStart..<span.end)
        }
    }

    public func contains(name: String) -> Bool { firstIndex(name: name) != nil }

    /// The first value of `name`.
    public subscript(name: String) -> String? {
        firstIndex(name: name).map { value(at: $0) }
    }

    /// The first value of `name` as bytes (no String made), nil when there is none.
    public func valueBytes(name: String) -> ArraySlice<UInt8>? {
        guard let i = firstIndex(name: name) else { return nil }
        return bytes[spans[i].valueStart..<spans[i].end]
    }

    /// Every value of `name`, in order (repeated fields are kept apart, not joined).
    public func values(name: String) -> [String] {
        var out: [String] = []
        forEachIndex(named: name) { out.append(value(at: $0)) }
        return out
    }

    /// Comma-separated list elements of every `name` field, trimmed and lower-cased
    /// (for tokens such as `Connection: keep-alive, Upgrade`).
    public func tokens(name: String) -> [String] {
        values(name: name).flatMap { $0.split(separator: ",") }
            .map { $0.trimmingHTTPWhitespace().lowercased() }
            .filter { !$0.isEmpty }
    }

    /// Whether `tokens(name:)` contains `token` (lower-case ASCII), without building the list:
    /// asked for every request (`Connection` for keep-alive).
    public func containsToken(_ token: StaticString, name: String) -> Bool {
        var next = nextIndex(named: name, from: 0)
        while let i = next {
            let span = spans[i]
            let found: Bool? = bytes.withUnsafeBufferPointer { all in
                // Sound: a span lies within `bytes` (appended together), and every index below
                // stays within it (start ≤ end ≤ value.count).
                let value = UnsafeBufferPointer(rebasing: all[span.valueStart..<span.end])
                guard !value.contains(where: { $0 >= 0x80 }) else { return nil }
                var start = 0
                while start < value.count {
                    var end = start
                    while end < value.count && value[end] != UInt8(ascii: ",") { end += 1 }
                    if Self.isASCIIToken(UnsafeBufferPointer(rebasing: value[start..<end]), equalTo: token) { return true }
                    start = end + 1
                }
                return false
            }
            switch found {
            case true?: return true
            case false?: break
            case nil:
                // Non-ASCII: `tokens` splits and lower-cases by Character; ask it, exactly.
                if value(at: i).split(separator: ",").contains(where: { Self.isToken($0, equalTo: token) }) { return true }
            }
            next = nextIndex(named: name, from: i + 1)
        }
        return false
    }

    /// Whether one list element, trimmed and lower-cased as `tokens` does, is `token`.
    static func isToken(_ element: Substring, equalTo token: StaticString) -> Bool {
        if element.utf8.allSatisfy({ $0 < 0x80 }) {
            var element = element
            return element.withUTF8 { isASCIIToken($0, equalTo: token) }
        }
        let wanted = token.withUTF8Buffer { String(decoding: $0, as: UTF8.self) }
        return element.trimmingHTTPWhitespace().lowercased() == wanted
    }

    /// ASCII bytes, SP/HTAB trimmed, compared case-insensitively with lower-case `token`.
    private static func isASCIIToken(_ bytes: UnsafeBufferPointer<UInt8>, equalTo token: StaticString) -> Bool {
        var lower = 0
        var upper = bytes.count
        while lower < upper && (bytes[lower] == 0x20 || bytes[lower] == 0x09) { lower += 1 }
        while upper > lower && (bytes[upper - 1] == 0x20 || bytes[upper - 1] == 0x09) { upper -= 1 }
        return token.withUTF8Buffer { wanted in
            guard upper - lower == wanted.count else { return false }
            for i in 0..<wanted.count {
                let c = bytes[lower + i]
                let folded = c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") ? c | 0x20 : c
                if folded != wanted[i] { return false }
            }
            return true
        }
    }

    /// How many fields are named `name`, and the first one's value.
    public func count(name: String) -> (count: Int, first: String?) {
        var count = 0
        var first: String?
        forEachIndex(named: name) { i in
            if count == 0 { first = value(at: i) }
            count += 1
        }
        return (count, first)
    }

    /// What the parser's body framing needs, in one pass over the names instead of three:
    /// how many `Host` fields, whether there is a `Transfer-Encoding`, how many
    /// `Content-Length` fields and the first one's value bytes.
    func framingFields() -> (hosts: Int, transferEncoding: Bool, lengths: Int, firstLength: ArraySlice<UInt8>?) {
        var hosts = 0, lengths = 0
        var transferEncoding = false
        var firstLength: ArraySlice<UInt8>?
        bytes.withUnsafeBufferPointer { all in
            // Sound: every span lies within `bytes`; `equalNameBytes` compares equal counts only.
            for span in spans {
                let name = UnsafeBufferPointer(rebasing: all[span.start..<span.nameEnd])
                switch name.count {
                case 4: if Self.equalName(name, "host") { hosts += 1 }
                case 14:
                    if Self.equalName(name, "content-length") {
                        if lengths == 0 { firstLength = bytes[span.valueStart..<span.end] }
                        lengths += 1
                    }
                case 17: if Self.equalName(name, "transfer-encoding") { transferEncoding = true }
                default: break
                }
            }
        }
        return (hosts, transferEncoding, lengths, firstLength)
    }

    private static func equalName(_ name: UnsafeBufferPointer<UInt8>, _ wanted: StaticString) -> Bool {
        wanted.withUTF8Buffer { equalNameBytes(name, $0) }
    }

    /// Room for `n` fields, so a request's head grows its arrays once.
    public mutating func reserveCapacity(_ n: Int) {
        spans.reserveCapacity(n)
        bytes.reserveCapacity(n * 32)
    }

    public struct Iterator: IteratorProtocol {
        let headers: HTTPHeaders
        var index = 0
        public mutating func next() -> Field? {
            guard index < headers.spans.count else { return nil }
            defer { index += 1 }
            return Field(name: headers.name(at: index), value: headers.value(at: index))
        }
    }

    public func makeIterator() -> Iterator { Iterator(headers: self) }

    public var underestimatedCount: Int { spans.count }

    /// Calls `body` with each field's name and value bytes, in order, without making Strings
    /// (the response encoder copies them as they are).
    public func forEachField(_ body: (_ name: UnsafeBufferPointer<UInt8>, _ value: UnsafeBufferPointer<UInt8>) -> Void) {
        bytes.withUnsafeBufferPointer { all in
            // Sound: every span lies within `bytes` (its ranges were taken as they were appended).
            for span in spans {
                body(UnsafeBufferPointer(rebasing: all[span.start..<span.nameEnd]),
                     UnsafeBufferPointer(rebasing: all[span.valueStart..<span.end]))
            }
        }
    }

    /// At least the bytes of every name and value (the fields' lengths summed; a parsed head's
    /// count also holds its request line and separators): a capacity hint.
    public var byteCount: Int { bytes.count }

    private func name(at i: Int) -> String {
        String(decoding: bytes[spans[i].start..<spans[i].nameEnd], as: UTF8.self)
    }

    private func value(at i: Int) -> String {
        String(decoding: bytes[spans[i].valueStart..<spans[i].end], as: UTF8.self)
    }

    private func firstIndex(name: String) -> Int? {
        nextIndex(named: name, from: 0)
    }

    /// The first field named `name` at or after `start`. The name's length is read once and
    /// compared with each field's before any byte: a WebSocket upgrade makes ~9 lookups over
    /// its ~7 fields, and reading the length per field was ~1.9k instructions of a handshake
    /// (callgrind S4).
    private func nextIndex(named name: String, from start: Int) -> Int? {
        let count = name.utf8.count
        var i = start
        while i < spans.count {
            if spans[i].nameEnd - spans[i].start == count && nameMatches(i, name) { return i }
            i += 1
        }
        return nil
    }

    /// `body` for each field named `name`, in order.
    private func forEachIndex(named name: String, _ body: (Int) -> Void) {
        var next = nextIndex(named: name, from: 0)
        while let i = next {
            body(i)
            next = nextIndex(named: name, from: i + 1)
        }
    }

    /// Whether field `i`'s name is `name`, ASCII case-insensitively (as `equalNames`).
    private func nameMatches(_ i: Int, _ name: String) -> Bool {
        let span = spans[i]
        // Lengths first, without a closure: most fields asked about have another length
        // (`utf8.count` is O(1) for a native String; ~40 instructions a field otherwise, S2).
        guard name.utf8.count == span.nameEnd - span.start else { return false }
        var name = name
        return name.withUTF8 { wanted in
            guard wanted.count == span.nameEnd - span.start else { return false }
            return bytes.withUnsafeBufferPointer { all in
                // Sound: the span is within `bytes` and has `wanted.count` bytes (checked above).
                Self.equalNameBytes(UnsafeBufferPointer(rebasing: all[span.start..<span.nameEnd]), wanted)
            }
        }
    }

    /// ASCII case-insensitive comparison without allocating (field names are tokens: ASCII).
    public static func equalNames(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        // On the contiguous bytes: iterating two UTF8Views in `zip` was the hottest function of
        // a small request's parse (callgrind, S2). `withUTF8` copies nothing for native strings.
        var a = a, b = b
        return a.withUTF8 { x in b.withUTF8 { y in equalNameBytes(x, y) } }
    }

    /// `equalNames` on bytes: same length, and equal but for the case of ASCII letters.
    public static func equalNameBytes(_ x: UnsafeBufferPointer<UInt8>, _ y: UnsafeBufferPointer<UInt8>) -> Bool {
        guard x.count == y.count else { return false }
        // Sound: both buffers have the same count (checked above), so `i` is in range of both.
        for i in 0..<x.count where x[i] != y[i] {
            // Only letters differ by case, and only in bit 0x20.
            guard x[i] | 0x20 == y[i] | 0x20, (0x61...0x7A).contains(x[i] | 0x20) else { return false }
        }
        return true
    }
}

extension HTTPHeaders: Equatable {
    /// The same fields in the same order (names and values compared as Strings, as before).
    public static func == (a: HTTPHeaders, b: HTTPHeaders) -> Bool {
        // As many fields or not equal: checked before `fields` builds a String per name and
        // value (a static file's 200 is compared with the JSON head on every request).
        guard a.spans.count == b.spans.count else { return false }
        if a.spans == b.spans && a.bytes == b.bytes { return true }
        return a.fields == b.fields
    }
}

extension StringProtocol {
    /// Trims optional whitespace (SP / HTAB, RFC 9110 §5.6.3) from both ends.
    public func trimmingHTTPWhitespace() -> String {
        let string = String(self)  // a String itself, not a copy
        // Nothing to trim (what clients send): that String as it is.
        guard let first = string.utf8.first, let last = string.utf8.last else { return string }
        let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t")
        guard first == space || first == tab || last == space || last == tab else { return string }
        var s = Substring(string)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }
}
