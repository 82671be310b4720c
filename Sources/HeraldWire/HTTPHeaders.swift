/// Header fields in arrival order. Names compare case-insensitively (RFC 9110 §5.1).
public struct HTTPHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public private(set) var fields: [Field] = []

    public init() {}

    public init(dictionaryLiteral elements: (String, String)...) {
        for (name, value) in elements { add(name: name, value: value) }
    }

    public var count: Int { fields.count }

    public mutating func add(name: String, value: String) {
        fields.append(Field(name: name, value: value))
    }

    /// Replaces every field named `name` with one field.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        add(name: name, value: value)
    }

    public mutating func remove(name: String) {
        fields.removeAll { Self.equalNames($0.name, name) }
    }

    public func contains(name: String) -> Bool {
        fields.contains { Self.equalNames($0.name, name) }
    }

    /// The first value of `name`.
    public subscript(name: String) -> String? {
        fields.first { Self.equalNames($0.name, name) }?.value
    }

    /// Every value of `name`, in order (repeated fields are kept apart, not joined).
    public func values(name: String) -> [String] {
        fields.filter { Self.equalNames($0.name, name) }.map(\.value)
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
        for field in fields where Self.equalNames(field.name, name) {
            var value = field.value
            let found: Bool? = value.withUTF8 { bytes in
                // Sound: every index below stays within `bytes` (start ≤ end ≤ bytes.count).
                guard !bytes.contains(where: { $0 >= 0x80 }) else { return nil }
                var start = 0
                while start < bytes.count {
                    var end = start
                    while end < bytes.count && bytes[end] != UInt8(ascii: ",") { end += 1 }
                    if Self.isASCIIToken(UnsafeBufferPointer(rebasing: bytes[start..<end]), equalTo: token) { return true }
                    start = end + 1
                }
                return false
            }
            switch found {
            case true?: return true
            case false?: continue
            case nil:
                // Non-ASCII: `tokens` splits and lower-cases by Character; ask it, exactly.
                if field.value.split(separator: ",").contains(where: { Self.isToken($0, equalTo: token) }) { return true }
            }
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
        for field in fields where Self.equalNames(field.name, name) {
            if count == 0 { first = field.value }
            count += 1
        }
        return (count, first)
    }

    /// Room for `n` fields, so a request's head grows its array once.
    public mutating func reserveCapacity(_ n: Int) { fields.reserveCapacity(n) }

    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }

    /// ASCII case-insensitive comparison without allocating (field names are tokens: ASCII).
    public static func equalNames(_ a: String, _ b: String) -> Bool {
        guard a.utf8.count == b.utf8.count else { return false }
        // On the contiguous bytes: iterating two UTF8Views in `zip` was the hottest function of
        // a small request's parse (callgrind, S2). `withUTF8` copies nothing for native strings.
        // Sound: both buffers have the same count (checked above), so `i` is in range of both.
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                for i in 0..<x.count where x[i] != y[i] {
                    // Only letters differ by case, and only in bit 0x20.
                    guard x[i] | 0x20 == y[i] | 0x20, (0x61...0x7A).contains(x[i] | 0x20) else { return false }
                }
                return true
            }
        }
    }
}

extension StringProtocol {
    /// Trims optional whitespace (SP / HTAB, RFC 9110 §5.6.3) from both ends.
    public func trimmingHTTPWhitespace() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }
}
