import HeraldWire

/// A whole response: status, header fields and the de-chunked body.
public struct HTTPClientResponse: Equatable, Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// A blocking HTTP/1.1 client: one connection per request (`Connection: close`), which is all
/// a CLI call needs and keeps the client free of pooling state.
public enum HTTPClient {
    /// Seconds a request may take by default (connect, send, whole response).
    public static let defaultTimeout = 30.0

    public static let userAgent = "herald-cli"

    /// Sends one request and reads the whole response. `timeout` bounds everything from the
    /// connect to the last body byte. Adds Host, Content-Length (when there is a body, or for
    /// POST/PUT/PATCH so a server never waits for one), User-Agent and `Connection: close`.
    public static func request(
        method: String, url: ClientURL, body: [UInt8]? = nil, headers: HTTPHeaders = HTTPHeaders(),
        timeout: Double = defaultTimeout, limits: HTTPResponseParserLimits = .default, tls: ClientTLS = ClientTLS()
    ) throws(ClientError) -> HTTPClientResponse {
        let deadline = Deadline.after(seconds: timeout)
        let origin = url.http.origin
        let connection = try TCPConnection.connect(
            host: url.host, port: url.port, origin: origin, deadline: deadline, tls: url.scheme.isSecure ? tls : nil)
        defer { connection.close() }
        try connection.write(encodeRequest(method: method, url: url, body: body, headers: headers), deadline: deadline)

        var parser = HTTPResponseParser(requestMethod: method, limits: limits)
        var buffer = ByteBuffer()
        var response: HTTPClientResponse?
        while true {
            if let event = try parser.next(&buffer) {
                switch event {
                case .head(let head): response = HTTPClientResponse(status: head.status, headers: head.headers)
                case .body(let bytes): response?.body.append(contentsOf: bytes)
                case .end: return response!
                }
                continue
            }
            guard let n = try connection.read(into: &buffer, deadline: deadline) else {
                throw .timedOut("after \(formatSeconds(timeout)) waiting for the answer of \(origin)")
            }
            if n == 0 {
                while let event = try parser.finish() {
                    if case .end = event { return response! }
                }
            }
        }
    }

    /// The request head and body as bytes (RFC 9112 §3). Caller headers come last and replace
    /// the defaults of the same name.
    public static func encodeRequest(method: String, url: ClientURL, body: [UInt8]?, headers: HTTPHeaders) -> [UInt8] {
        var fields = HTTPHeaders()
        fields.add(name: "Host", value: url.hostHeader)
        fields.add(name: "User-Agent", value: userAgent)
        fields.add(name: "Accept", value: "application/json")
        if body != nil || ["POST", "PUT", "PATCH"].contains(method) {
            fields.add(name: "Content-Length", value: String(body?.count ?? 0))
        }
        fields.add(name: "Connection", value: "close")
        for field in headers { fields.replaceOrAdd(name: field.name, value: field.value) }
        var text = "\(method) \(url.requestTarget) HTTP/1.1\r\n"
        for field in fields { text += "\(field.name): \(field.value)\r\n" }
        text += "\r\n"
        var out = Array(text.utf8)
        if let body { out.append(contentsOf: body) }
        return out
    }

    static func formatSeconds(_ s: Double) -> String {
        s == s.rounded() && abs(s) < 1e9 ? "\(Int(s)) s" : "\(s) s"
    }
}
