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
public struct HTTPRequestHead: Sendable, Equatable {
    /// As sent; methods are case-sensitive (RFC 9110 §9.1).
    public var method: String
    /// The request-target as sent, e.g. `/a%20b?x=1`.
    public var target: String
    /// The target up to `?`, still percent-encoded.
    public var path: String
    /// The part after the first `?`, without it; nil when there is no `?`.
    public var query: String?
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var bodyFraming: HTTPBodyFraming

    public init(
        method: String, target: String, version: HTTPVersion = .http1_1,
        headers: HTTPHeaders = HTTPHeaders(), bodyFraming: HTTPBodyFraming = .none
    ) {
        self.method = method
        self.target = target
        if let q = target.firstIndex(of: "?") {
            path = String(target[..<q])
            query = String(target[target.index(after: q)...])
        } else {
            path = target
            query = nil
        }
        self.version = version
        self.headers = headers
        self.bodyFraming = bodyFraming
    }

    /// HTTP/1.1 is persistent unless `Connection: close`; 1.0 only with `Connection: keep-alive`.
    public var keepAlive: Bool {
        let tokens = headers.tokens(name: "connection")
        if version == .http1_0 { return tokens.contains("keep-alive") }
        return !tokens.contains("close")
    }

    /// `Expect: 100-continue` (RFC 9110 §10.1.1).
    public var expectsContinue: Bool {
        headers["expect"]?.trimmingHTTPWhitespace().lowercased() == "100-continue"
    }

    /// The decoded values of the query string's parameter `name`, in order.
    public func queryValues(_ name: String) -> [String] {
        guard let query else { return [] }
        return query.split(separator: "&", omittingEmptySubsequences: true).compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = PercentDecoding.decodeQueryComponent(parts[0]), key == name else { return nil }
            return parts.count > 1 ? PercentDecoding.decodeQueryComponent(parts[1]) : ""
        }
    }

    public func queryValue(_ name: String) -> String? { queryValues(name).first }
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
        // `+` becomes a space before decoding, so an escaped `%2B` stays a plus.
        let spaced = String(decoding: s.utf8.map { $0 == UInt8(ascii: "+") ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
        guard let bytes = decode(spaced) else { return nil }
        return String(validating: bytes, as: UTF8.self)
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
