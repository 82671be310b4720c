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
            let value = field.value.utf8
            guard value.allSatisfy({ $0 < 0x80 }) else {
                // Non-ASCII: `tokens` splits and lower-cases by Character; ask it, exactly.
                if field.value.split(separator: ",").contains(where: { Self.isToken($0, equalTo: token) }) { return true }
                continue
            }
            var start = value.startIndex
            while start != value.endIndex {
                let end = value[start...].firstIndex(of: UInt8(ascii: ",")) ?? value.endIndex
                if Self.isASCIIToken(value[start..<end], equalTo: token) { return true }
                start = end == value.endIndex ? end : value.index(after: end)
            }
        }
        return false
    }

    /// Whether one list element, trimmed and lower-cased as `tokens` does, is `token`.
    static func isToken(_ element: Substring, equalTo token: StaticString) -> Bool {
        if element.utf8.allSatisfy({ $0 < 0x80 }) { return isASCIIToken(element.utf8, equalTo: token) }
        let wanted = token.withUTF8Buffer { String(decoding: $0, as: UTF8.self) }
        return element.trimmingHTTPWhitespace().lowercased() == wanted
    }

    /// ASCII bytes, SP/HTAB trimmed, compared case-insensitively with lower-case `token`.
    private static func isASCIIToken<C: BidirectionalCollection>(_ bytes: C, equalTo token: StaticString) -> Bool
    where C.Element == UInt8 {
        var element = bytes[...]
        while let c = element.first, c == 0x20 || c == 0x09 { element = element.dropFirst() }
        while let c = element.last, c == 0x20 || c == 0x09 { element = element.dropLast() }
        return token.withUTF8Buffer { wanted in
            guard element.count == wanted.count else { return false }
            for (c, w) in zip(element, wanted) {
                let lower = c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") ? c | 0x20 : c
                if lower != w { return false }
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
