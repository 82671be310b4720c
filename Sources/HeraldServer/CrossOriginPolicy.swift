import HeraldWire

/// CORS for the API (`--allow-origin`): a dashboard served by one Herald process that fails over
/// to another (`?servers=a,b`) sends its actions cross-origin. Off by default — only the page's
/// own origin works — because reads are open and a browser should not hand them to any site.
/// Tokens travel in `Authorization`, never cookies, so `*` allows no credentialed request.
struct CrossOriginPolicy: Sendable {
    /// Exact origins (`https://ops.example.com`), or `*` for any.
    var allowedOrigins: [String] = []

    static let allowedMethods = "GET, HEAD, POST, DELETE"
    static let allowedHeaders = "Content-Type, Authorization"
    /// Browsers cache a preflight this long (seconds).
    static let maxAge = "600"

    var isEnabled: Bool { !allowedOrigins.isEmpty }

    /// The value of `Access-Control-Allow-Origin` for this request's `Origin`, or nil.
    func allowOrigin(for head: HTTPRequestHead) -> String? {
        guard isEnabled, let origin = head.headers["origin"] else { return nil }
        if allowedOrigins.contains("*") { return "*" }
        return allowedOrigins.contains(origin) ? origin : nil
    }

    /// Adds the CORS headers an allowed origin needs to read `response`.
    func decorate(_ response: inout HTTPResponse, for head: HTTPRequestHead) {
        guard isEnabled else { return }
        response.headers.replaceOrAdd(name: "Vary", value: "Origin")
        guard let allow = allowOrigin(for: head) else { return }
        response.headers.replaceOrAdd(name: "Access-Control-Allow-Origin", value: allow)
    }

    /// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`); nil for any
    /// other request. A preflight from an origin not allowed gets no CORS headers, so the
    /// browser refuses the real request.
    func preflight(_ head: HTTPRequestHead) -> HTTPResponse? {
        guard isEnabled, head.method == "OPTIONS", head.headers.contains(name: "access-control-request-method") else { return nil }
        var response = HTTPResponse(status: 204)
        decorate(&response, for: head)
        if allowOrigin(for: head) != nil {
            response.headers.add(name: "Access-Control-Allow-Methods", value: Self.allowedMethods)
            response.headers.add(name: "Access-Control-Allow-Headers", value: Self.allowedHeaders)
            response.headers.add(name: "Access-Control-Max-Age", value: Self.maxAge)
        }
        return response
    }
}

/// `--publish-token`: changes (POST and DELETE under /api) need `Authorization: Bearer TOKEN`;
/// reads, /ws and static files stay open. The comparison takes the same time wherever the
/// first wrong byte is.
struct PublishTokenCheck: Sendable {
    var token: String?

    /// nil when the request may go on, else the 401 to answer.
    func refusal(for head: HTTPRequestHead) -> HTTPResponse? {
        guard let token, head.method == "POST" || head.method == "DELETE" else { return nil }
        let presented = head.headers["authorization"].flatMap(Self.bearer) ?? []
        if Self.constantTimeEqual(presented, Array(token.utf8)) { return nil }
        let message = presented.isEmpty ? "this server needs the publish token: Authorization: Bearer <token>"
                                         : "the publish token is not right"
        var response = HTTPResponse.error(status: 401, code: "unauthorized", message: message)
        response.headers.add(name: "WWW-Authenticate", value: "Bearer realm=\"herald\"")
        return response
    }

    static func bearer(_ value: String) -> [UInt8]? {
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return Array(parts[1].utf8)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0 && a.count == b.count
    }
}
