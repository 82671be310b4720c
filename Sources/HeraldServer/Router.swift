import HeraldLoop
import HeraldWire

/// A WebSocket endpoint: what to do with the messages of one upgraded connection.
protocol WebSocketEndpoint: AnyObject {
    func opened(_ socket: WebSocketConnection)
    func received(_ socket: WebSocketConnection, kind: WebSocketMessageKind, payload: [UInt8])
    func closed(_ socket: WebSocketConnection)
}

struct WebSocketRoute {
    let maxMessageSize: Int
    let makeEndpoint: () -> WebSocketEndpoint
}

/// What the router decides once a request's head is known.
enum RouteDecision {
    /// Answer this; a request body, if any, is read and discarded first.
    case respond(HTTPResponse)
    /// Read the whole body (bounded by the parser's limit), then answer.
    case readBody((HTTPRequestHead, [UInt8]) -> HTTPResponse)
    /// A WebSocket endpoint: the connection evaluates the handshake and hands itself over.
    case upgrade(WebSocketRoute)
}

/// Maps requests to handlers: /healthz, /echo (with --echo), and static files for the rest.
final class Router {
    private let configuration: ServerConfiguration
    private let staticFiles: StaticFileServer
    private let startedAt = MonotonicSeconds.now()
    var openConnections: () -> Int = { 0 }

    init(configuration: ServerConfiguration, staticFiles: StaticFileServer) {
        self.configuration = configuration
        self.staticFiles = staticFiles
    }

    func route(_ head: HTTPRequestHead) -> RouteDecision {
        switch head.path {
        case "/healthz":
            guard head.method == "GET" || head.method == "HEAD" else { return .respond(.methodNotAllowed(allow: "GET, HEAD")) }
            return .respond(health())
        case "/echo" where configuration.echo:
            switch head.method {
            case "GET":
                return .upgrade(WebSocketRoute(maxMessageSize: configuration.maxEchoMessageBytes) { EchoEndpoint() })
            case "POST":
                return .readBody { head, body in
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: head.headers["content-type"] ?? "application/octet-stream")
                    return HTTPResponse(status: 200, headers: headers, body: .bytes(body))
                }
            default:
                return .respond(.methodNotAllowed(allow: "GET, POST"))
            }
        default:
            if head.path.hasPrefix("/api/") || head.path == "/api" || head.path == "/ws" {
                // The task API and /ws topics come with the task engine; never fall through to files.
                return .respond(.error(status: 404, code: "not_found", message: "no such endpoint: \(head.path)"))
            }
            return .respond(staticFiles.respond(to: head))
        }
    }

    private func health() -> HTTPResponse {
        let uptime = MonotonicSeconds.now() - startedAt
        let body = "{\"status\":\"ok\",\"version\":\(JSONText.quote(HeraldVersion.string)),\"uptime_s\":\(Int(uptime)),\"connections\":\(openConnections())}"
        var response = HTTPResponse.json(status: 200, Array(body.utf8))
        response.headers.replaceOrAdd(name: "Cache-Control", value: "no-store")
        return response
    }
}

extension HTTPResponse {
    static func methodNotAllowed(allow: String) -> HTTPResponse {
        var response = HTTPResponse.error(status: 405, code: "method_not_allowed", message: "allowed methods: \(allow)")
        response.headers.add(name: "Allow", value: allow)
        return response
    }
}

enum MonotonicSeconds {
    static func now() -> Double { Double(MonotonicClock.now()) / 1e9 }
}
