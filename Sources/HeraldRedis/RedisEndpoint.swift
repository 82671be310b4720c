/// Where Redis is: `redis://[[user]:password@]host[:port][/db]` (the scheme redis-cli and every
/// client library accept). IPv6 hosts go in brackets: `redis://[::1]:6379/0`.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var database: Int
    public var user: String?
    public var password: String?

    public init(host: String, port: Int = 6379, database: Int = 0, user: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
    }

    /// Parses a `redis://` URL; the error says what is wrong with it.
    public init(url: String) throws(RedisEndpointError) {
        guard url.hasPrefix("redis://") else { throw RedisEndpointError("must start with redis:// (got \(url))") }
        var rest = Substring(url.dropFirst("redis://".count))
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                user = credentials[..<colon].isEmpty ? nil : String(credentials[..<colon])
                password = String(credentials[credentials.index(after: colon)...])
            } else {
                password = String(credentials)
            }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let db = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !db.isEmpty {
                guard let n = Int(db), (0...1_000_000).contains(n) else {
                    throw RedisEndpointError("the database after / must be a number (got \(db))")
                }
                database = n
            }
        }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw RedisEndpointError("an IPv6 host needs its closing ]") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw RedisEndpointError("expected :port after ] (got \(after))") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.firstIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw RedisEndpointError("no host in \(url)") }
        var port = 6379
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else {
                throw RedisEndpointError("the port must be 1–65535 (got \(portText))")
            }
            port = p
        }
        self.init(host: String(host), port: port, database: database, user: user, password: password)
    }

    /// The URL without the password (for logs and /healthz).
    public var description: String {
        let credentials = password == nil ? "" : "\(user ?? ""):***@"
        let h = host.contains(":") ? "[\(host)]" : host
        return "redis://\(credentials)\(h):\(port)/\(database)"
    }
}

public struct RedisEndpointError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    init(_ description: String) { self.description = "--redis: \(description)" }
}
