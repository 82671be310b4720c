public struct HTTPVersion: Sendable, Equatable, CustomStringConvertible {
    public var major: Int
    public var minor: Int
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// How the body of a request is framed (RFC 9112 §6.3).
public enum HTTPBodyFraming: Sendable, Equatable {
    case none
    case contentLength(Int)
    case chunked
}

/// A parsed request line and header section.
///
/// A value type whose fields live in one shared box (copy-on-write): a head is copied into the
/// connection's current request, its slot, the route's closures and the handler's arguments,
/// and each copy of six Strings and two arrays was a retain and a release of each (the top two
/// symbols of S2's callgrind profile, issue 18). Now a copy is one retain.
public struct HTTPRequestHead: Sendable {
    /// The fields. `@unchecked Sendable` is sound because a box is never mutated once it may be
    /// shared: every setter of `HTTPRequestHead` first makes its box unique (`isKnownUniquelyReferenced`,
    /// else a copy), exactly as Array's copy-on-write does, so a box another copy or thread can
    /// see is read-only. `HTTPRequestHeadTests.copiesAreIndependent` checks the value semantics.
    final class Storage: @unchecked Sendable {
        var method: String
        var target: String
        var path: String
        var query: String?
        var version: HTTPVersion
        var headers: HTTPHeaders
        var bodyFraming: HTTPBodyFraming

        init(method: String, target: String, path: String, query: String?, version: HTTPVersion,
             headers: HTTPHeaders, bodyFraming: HTTPBodyFraming) {
            self.method = method
            self.target = target
            self.path = path
            self.query = query
            self.version = version
            self.headers = headers
            self.bodyFraming = bodyFraming
        }

        func copy() -> Storage {
            Storage(method: method, target: target, path: path, query: query, version: version,
                    headers: headers, bodyFraming: bodyFraming)
        }
    }

    private var storage: Storage

    private mutating func unique() -> Storage {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        return storage
    }

    /// As sent; methods are case-sensitive (RFC 9110 §9.1).
    public var method: String {
        get { storage.method }
        set { unique().method = newValue }
    }
    /// The request-target as sent, e.g. `/a%20b?x=1`.
    public var target: String {
        get { storage.target }
        set { unique().target = newValue }
    }
    /// The target up to `?`, still percent-encoded.
    public var path: String {
        get { storage.path }
        set { unique().path = newValue }
    }
    /// The part after the first `?`, without it; nil when there is no `?`.
    public var query: String? {
        get { storage.query }
        set { unique().query = newValue }
    }
    public var version: HTTPVersion {
        get { storage.version }
        set { unique().version = newValue }
    }
    public var headers: HTTPHeaders {
        get { storage.headers }
        set { unique().headers = newValue }
    }
    public var bodyFraming: HTTPBodyFraming {
        get { storage.bodyFraming }
        set { unique().bodyFraming = newValue }
    }

    public init(
        method: String, target: String, version: HTTPVersion = .http1_1,
        headers: HTTPHeaders = HTTPHeaders(), bodyFraming: HTTPBodyFraming = .none
    ) {
        let path: String
        let query: String?
        if let q = target.firstIndex(of: "?") {
            path = String(target[..<q])
            query = String(target[target.index(after: q)...])
        } else {
            path = target
            query = nil
        }
        storage = Storage(method: method, target: target, path: path, query: query, version: version,
                          headers: headers, bodyFraming: bodyFraming)
    }

    /// The parser's head, with the target already split at its first `?` (on its bytes).
    init(
        method: String, target: String, path: String, query: String?, version: HTTPVersion, headers: HTTPHeaders,
        bodyFraming: HTTPBodyFraming
    ) {
        storage = Storage(method: method, target: target, path: path, query: query, version: version,
                          headers: headers, bodyFraming: bodyFraming)
    }

    /// HTTP/1.1 is persistent unless `Connection: close`; 1.0 only with `Connection: keep-alive`.
    public var keepAlive: Bool {
        if version == .http1_0 { return headers.containsToken("keep-alive", name: "connection") }
        return !headers.containsToken("close", name: "connection")
    }

    /// `Expect: 100-continue` (RFC 9110 §10.1.1).
    public var expectsContinue: Bool {
        guard let expect = headers["expect"] else { return false }
        return HTTPHeaders.isToken(Substring(expect), equalTo: "100-continue")
    }

    /// The decoded values of the query string's parameter `name`, in order. Works on the bytes:
    /// a `/ws` query carries a token of hundreds of characters, and splitting it by Character
    /// and decoding every value once per name looked up was most of an upgrade's cost (perf).
    /// Only the values of matching keys are decoded.
    public func queryValues(_ name: String) -> [String] {
        guard var query else { return [] }
        let wanted = Array(name.utf8)
        query.makeContiguousUTF8()
        return query.utf8.withContiguousStorageIfAvailable { Self.queryValues(wanted, in: $0) } ?? []
    }

    private static func queryValues(_ wanted: [UInt8], in bytes: UnsafeBufferPointer<UInt8>) -> [String] {
        var out: [String] = []
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: "&") { end += 1 }
            if end > start {
                var equals = start
                while equals < end && bytes[equals] != UInt8(ascii: "=") { equals += 1 }
                let key = UnsafeBufferPointer(rebasing: bytes[start..<equals])
                if PercentDecoding.queryComponent(key, equals: wanted) {
                    let value = equals < end ? UnsafeBufferPointer(rebasing: bytes[(equals + 1)..<end]) : UnsafeBufferPointer(rebasing: bytes[end..<end])
                    if let decoded = PercentDecoding.decodeQueryComponent(bytes: value) { out.append(decoded) }
                }
            }
            start = end + 1
        }
        return out
    }

    public func queryValue(_ name: String) -> String? { queryValues(name).first }
}

extension HTTPRequestHead: Equatable {
    public static func == (a: HTTPRequestHead, b: HTTPRequestHead) -> Bool {
        if a.storage === b.storage { return true }
        return a.method == b.method && a.target == b.target && a.path == b.path && a.query == b.query
            && a.version == b.version && a.headers == b.headers && a.bodyFraming == b.bodyFraming
    }
}

public enum PercentDecoding {
    /// Decodes `%XX` escapes; nil on a malformed escape or when the result is not UTF-8.
    public static func decode<S: StringProtocol>(_ s: S) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        var it = s.utf8.makeIterator()
        while let c = it.next() {
            if c == UInt8(ascii: "%") {
                guard let h = it.next(), let l = it.next(), let hv = hexValue(h), let lv = hexValue(l) else { return nil }
                out.append(hv << 4 | lv)
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// A query component: `+` means space (HTML forms), then percent-decoding.
    public static func decodeQueryComponent<S: StringProtocol>(_ s: S) -> String? {
        Array(s.utf8).withUnsafeBufferPointer { decodeQueryComponent(bytes: $0) }
    }

    /// `decodeQueryComponent` on bytes; nil on a malformed escape or non-UTF-8.
    public static func decodeQueryComponent(bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let hv = hexValue(bytes[i + 1]), let lv = hexValue(bytes[i + 2]) else { return nil }
                out.append(hv << 4 | lv)
                i += 3
            } else {
                // `+` is a space; an escaped `%2B` stays a plus (handled above).
                out.append(c == UInt8(ascii: "+") ? UInt8(ascii: " ") : c)
                i += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    /// Whether the raw component decodes to exactly `wanted`, without allocating when it has
    /// no escapes (the usual case: `topic`, `since`, `token`).
    static func queryComponent(_ raw: UnsafeBufferPointer<UInt8>, equals wanted: [UInt8]) -> Bool {
        if !raw.contains(UInt8(ascii: "%")) && !raw.contains(UInt8(ascii: "+")) { return raw.elementsEqual(wanted) }
        guard let decoded = decodeQueryComponent(bytes: raw) else { return false }
        return Array(decoded.utf8) == wanted
    }

    public static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
