import HeraldWire

/// CORS for the API (`--allow-origin`): a dashboard served by one Herald process that fails over
/// to another (`?servers=a,b`) sends its actions cross-origin. Off by default — only the page's
/// own origin works — because reads are open and a browser should not hand them to any site.
/// CORS never allows credentials (`*` could not), so a page of another origin cannot use the
/// `herald_token` cookie; it sends `Authorization` itself.
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
        // Added to what the response already varies on (a static file's Accept-Encoding), or
        // a shared cache could hand gzip to a client that never asked for it.
        let vary = response.headers["Vary"] ?? ""
        let varies = vary.split(separator: ",").map { $0.trimmingHTTPWhitespace().lowercased() }
        if !varies.contains("origin") && !varies.contains("*") {
            response.headers.replaceOrAdd(name: "Vary", value: vary.isEmpty ? "Origin" : vary + ", Origin")
        }
        guard let allow = allowOrigin(for: head) else { return }
        response.headers.replaceOrAdd(name: "Access-Control-Allow-Origin", value: allow)
        // A page must be able to read when to try again after a 429 (owner limits).
        if response.headers.contains(name: "retry-after") {
            response.headers.replaceOrAdd(name: "Access-Control-Expose-Headers", value: "Retry-After")
        }
    }

    /// Whether a WebSocket upgrade from `head` may proceed (cross-site WebSocket hijacking: a
    /// browser sends the page's cookies with an upgrade from any site, and no CORS check
    /// applies). With `--allow-origin` given, the `Origin` must be this server's own or a
    /// listed one; requests without `Origin` (scripts, workers, CLIs) are not browsers' and pass.
    func allowsWebSocket(_ head: HTTPRequestHead) -> Bool {
        guard isEnabled, let origin = head.headers["origin"] else { return true }
        if allowedOrigins.contains("*") || allowedOrigins.contains(origin) { return true }
        guard let host = head.headers["host"] else { return false }
        let own = origin.lowercased()
        return own == "http://\(host.lowercased())" || own == "https://\(host.lowercased())"
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
