/// An `http(s)://` or `ws(s)://` URL split into what a socket and a request line need. Only what
/// the CLI meets: no user info (refused, it would end up in logs).
public struct ClientURL: Equatable, Sendable, CustomStringConvertible {
    public enum Scheme: String, Sendable {
        case http, ws, https, wss

        /// TLS: https and wss.
        public var isSecure: Bool { self == .https || self == .wss }
        var defaultPort: Int { isSecure ? 443 : 80 }
    }

    public var scheme: Scheme
    /// A host name, an IPv4 literal, or an IPv6 literal without its brackets.
    public var host: String
    public var port: Int
    /// Starts with `/`; percent-encoding kept as given.
    public var path: String
    /// Without the `?`; nil when the URL has none.
    public var query: String?

    public init(scheme: Scheme, host: String, port: Int, path: String = "/", query: String? = nil) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = path
        self.query = query
    }

    /// Parses `scheme://host[:port][/path][?query][#fragment]`. A string without `://` is taken
    /// as `http://` (so `--server 127.0.0.1:8080` works). The fragment is dropped.
    public init(parsing text: String) throws(ClientError) {
        var rest = Substring(text.trimmingHTTPWhitespace())
        guard !rest.isEmpty else { throw .invalidURL(text, "empty URL") }
        var scheme = Scheme.http
        if let range = Self.firstRange(of: "://", in: rest) {
            let name = rest[..<range.lowerBound].lowercased()
            switch name {
            case "http": scheme = .http
            case "ws": scheme = .ws
            case "https": scheme = .https
            case "wss": scheme = .wss
            default:
                throw .invalidURL(text, "unsupported scheme '\(name)' (use http://, https://, ws:// or wss://)")
            }
            rest = rest[range.upperBound...]
        }
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var tail = rest[authorityEnd...]
        guard !authority.contains("@") else { throw .invalidURL(text, "user info in the URL is not supported") }

        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            // RFC 3986 §3.2.2: an IPv6 literal is in brackets.
            guard let close = authority.firstIndex(of: "]") else { throw .invalidURL(text, "unclosed '[' in the host") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw .invalidURL(text, "unexpected text after ']'") }
                portText = after.dropFirst()
            }
            guard host.contains(":") else { throw .invalidURL(text, "brackets are only for IPv6 addresses") }
        } else {
            if let colon = authority.firstIndex(of: ":") {
                host = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            } else {
                host = authority
            }
            guard host.allSatisfy(Self.isHostCharacter) else { throw .invalidURL(text, "invalid host '\(host)'") }
        }
        guard !host.isEmpty else { throw .invalidURL(text, "no host") }
        var port = scheme.defaultPort
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCIIDigit), let p = Int(portText),
                (1...65535).contains(p)
            else { throw .invalidURL(text, "invalid port '\(portText)'") }
            port = p
        }
        var query: String?
        if let q = tail.firstIndex(of: "?") {
            query = String(tail[tail.index(after: q)...])
            tail = tail[..<q]
        }
        let path = tail.isEmpty ? "/" : String(tail)
        guard path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .invalidURL(text, "the path has spaces or characters that must be percent-encoded")
        }
        self.init(scheme: scheme, host: String(host), port: port, path: path, query: query)
    }

    /// The request target: path and query (RFC 9112 §3.2.1 origin-form).
    public var requestTarget: String {
        query.map { "\(path)?\($0)" } ?? path
    }

    /// The `Host` header value (RFC 9110 §7.2): brackets for IPv6, the port unless it is the
    /// scheme's default.
    public var hostHeader: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return port == scheme.defaultPort ? h : "\(h):\(port)"
    }

    /// `scheme://host:port` with no path, as in messages ("cannot reach http://…").
    public var origin: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "\(scheme.rawValue)://\(h):\(port)"
    }

    public var description: String { origin + requestTarget }

    /// This URL with `suffix` (which starts with `/`) appended to its path, a trailing `/` of
    /// the path dropped first, and the query replaced: `http://h/herald/` + `/api/tasks`.
    public func appending(path suffix: String, query: String? = nil) -> ClientURL {
        var base = path
        while base.hasSuffix("/") { base.removeLast() }
        var copy = self
        copy.path = base + suffix
        copy.query = query
        return copy
    }

    /// The same URL with the other scheme (`http` ↔ `ws`), same host, port and path.
    public func with(scheme: Scheme) -> ClientURL {
        var copy = self
        copy.scheme = scheme
        return copy
    }

    /// The WebSocket URL of the same place: `ws`, or `wss` over TLS.
    public var webSocket: ClientURL { with(scheme: scheme.isSecure ? .wss : .ws) }
    /// The HTTP URL of the same place: `http`, or `https` over TLS.
    public var http: ClientURL { with(scheme: scheme.isSecure ? .https : .http) }

    private static func firstRange(of needle: String, in s: Substring) -> Range<Substring.Index>? {
        var i = s.startIndex
        while i < s.endIndex {
            if s[i...].hasPrefix(needle) { return i..<s.index(i, offsetBy: needle.count) }
            i = s.index(after: i)
        }
        return nil
    }

    // RFC 3986 reg-name without percent-encoding (host names and IPv4 literals).
    private static func isHostCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "-" || c == "." || c == "_")
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && ("0"..."9").contains(self) }
}

/// Percent-encoding for one path segment or one query value (RFC 3986 §2): everything but the
/// unreserved characters is encoded, so an id or topic like `task:a b` cannot change the URL's shape.
public enum PercentEncoding {
    public static func encode(_ s: String, keeping extra: Set<UInt8> = []) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            if isUnreserved(b) || extra.contains(b) {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "%" + String(b >> 4, radix: 16, uppercase: true) + String(b & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
    static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    /// `name=value&…` with both sides encoded; `:` is kept in values (topics are `task:<id>`),
    /// which RFC 3986 §3.4 allows in a query.
    public static func query(_ items: [(String, String)]) -> String {
        items.map { "\(encode($0.0))=\(encode($0.1, keeping: [UInt8(ascii: ":")]))" }.joined(separator: "&")
    }
}
