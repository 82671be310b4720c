import HeraldAccess
import HeraldLoop
import HeraldTasks
import HeraldWire

/// A WebSocket endpoint: what to do with the messages of one upgraded connection.
protocol WebSocketEndpoint: AnyObject {
    func opened(_ socket: WebSocketConnection)
    func received(_ socket: WebSocketConnection, kind: WebSocketMessageKind, payload: [UInt8])
    func closed(_ socket: WebSocketConnection)
    /// Everything queued on the socket was written.
    func drained(_ socket: WebSocketConnection)
    /// The topics of the session, for its access line.
    var topicsForLog: [String] { get }
}

extension WebSocketEndpoint {
    var topicsForLog: [String] { [] }
    func drained(_ socket: WebSocketConnection) {}
}

struct WebSocketRoute {
    let maxMessageSize: Int
    /// Builds the endpoint from the handshake request (its query names topics, for example).
    let makeEndpoint: (HTTPRequestHead) -> WebSocketEndpoint
    /// Set by the handshake when permessage-deflate was negotiated.
    var deflate: PerMessageDeflateParameters? = nil
}

/// What the router decides once a request's head is known.
enum RouteDecision {
    /// Answer this; a request body, if any, is read and discarded first.
    case respond(HTTPResponse)
    /// Read the whole body (bounded by the parser's limit), then answer.
    case readBody((HTTPRequestHead, [UInt8]) -> HTTPResponse)
    /// Read the whole body, then hand it to a handler that answers later through `respond`
    /// (the task API: the answer comes back from the actor). Nothing else is parsed on the
    /// connection meanwhile, so pipelined answers stay in order.
    case readBodyAsync((HTTPRequestHead, [UInt8], _ respond: @escaping (HTTPResponse) -> Void) -> Void)
    /// A WebSocket endpoint: the connection evaluates the handshake and hands itself over.
    case upgrade(WebSocketRoute)
}

/// The task side of one loop: the bridge to the actor, its subscribers and long-polls.
final class TaskServices {
    let bridge: TaskBridge
    let registry: TopicRegistry
    let longPolls: LongPollRegistry
    let api: TaskAPI

    init(bridge: TaskBridge, registry: TopicRegistry, longPolls: LongPollRegistry) {
        self.bridge = bridge
        self.registry = registry
        self.longPolls = longPolls
        api = TaskAPI(bridge: bridge, longPolls: longPolls)
        bridge.onEvent = { [registry, longPolls] event in
            registry.deliver(event)
            longPolls.taskChanged(event)
        }
        // Events were missed while the broker was away: subscribers reconnect and resume with
        // since= from the broker's history (or get a recovered:false snapshot), exactly once.
        bridge.onResyncNeeded = { [registry] in registry.closeAll(code: 1012, reason: "broker reconnected: resume with since=") }
    }
}

/// Maps requests to handlers: the task API, /ws, /healthz, /metrics, /echo (with --echo), and
/// static files for the rest.
final class Router {
    private let configuration: ServerConfiguration
    private let staticFiles: StaticFileServer
    private let startedAt = MonotonicSeconds.now()
    var openConnections: () -> Int = { 0 }
    var loopFigures: () -> MetricsEndpoint.LoopFigures? = { nil }
    var tasks: TaskServices?

    private let crossOrigin: CrossOriginPolicy
    /// Every /api, /ws and /metrics request passes through it first.
    let access: AccessControl
    let refusals = AccessRefusalCounter()

    init(configuration: ServerConfiguration, staticFiles: StaticFileServer) {
        self.configuration = configuration
        self.staticFiles = staticFiles
        crossOrigin = configuration.crossOrigin
        access = configuration.accessControl
    }

    func route(_ head: HTTPRequestHead) -> RouteDecision {
        if let preflight = crossOrigin.preflight(head) { return .respond(preflight) }
        switch head.path {
        case "/healthz":
            guard head.method == "GET" || head.method == "HEAD" else { return .respond(.methodNotAllowed(allow: "GET, HEAD")) }
            guard let bridge = tasks?.bridge else { return .respond(health(store: nil)) }
            // The store's state is the task authority's (this process's actor, or the broker's
            // under --broker/--workers): asked through the same stats request as /metrics.
            return .readBodyAsync { [weak self] _, _, respond in
                bridge.request(.stats) { reply in
                    guard let self else { return }
                    var store = "unknown"  // the broker did not answer
                    if case .stats(let stats) = reply { store = stats.storeFailing ? "failing" : "ok" }
                    respond(self.health(store: store))
                }
            }
        case "/echo" where configuration.echo:
            switch head.method {
            case "GET":
                return .upgrade(WebSocketRoute(maxMessageSize: configuration.maxEchoMessageBytes) { _ in EchoEndpoint() })
            case "POST":
                return .readBody { head, body in
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: head.headers["content-type"] ?? "application/octet-stream")
                    return HTTPResponse(status: 200, headers: headers, body: .bytes(body))
                }
            default:
                return .respond(.methodNotAllowed(allow: "GET, POST"))
            }
        case "/ws" where tasks != nil:
            guard head.method == "GET" else { return .respond(.methodNotAllowed(allow: "GET")) }
            guard crossOrigin.allowsWebSocket(head) else {
                refusals.count(.origin)
                return .respond(.error(status: 403, code: "forbidden_origin",
                                       message: "WebSocket connections from this Origin are not allowed (see --allow-origin)"))
            }
            let tasks = self.tasks!
            let access = self.access
            let refusals = self.refusals
            return authorized(head) { principal in
                .upgrade(WebSocketRoute(maxMessageSize: configuration.maxMessageBytes) { head in
                    TopicEndpoint(bridge: tasks.bridge, registry: tasks.registry, head: head, principal: principal, access: access,
                                  onExpired: { refusals.count(.socketExpired) })
                })
            }
        case "/metrics" where tasks != nil:
            guard head.method == "GET" || head.method == "HEAD" else { return .respond(.methodNotAllowed(allow: "GET, HEAD")) }
            let bridge = tasks!.bridge
            return authorized(head) { principal in
                // Counts over every owner's tasks: not for one owner's token.
                guard principal.role == .admin else { return .respond(AccessControl.forbidden("/metrics needs an admin token")) }
                return metrics(bridge)
            }
        default:
            if configuration.bench, let tasks, let decision = BenchEndpoints.route(
                head, registry: tasks.registry, maxMessageSize: configuration.maxMessageBytes) {
                return decision
            }
            if head.path.hasPrefix("/api/") || head.path == "/api" {
                return authorized(head) { principal in
                    if let tasks, head.path == StatsEndpoint.path { return StatsEndpoint.route(head, as: principal, bridge: tasks.bridge) }
                    if let tasks { return tasks.api.route(head, as: principal) }
                    return .respond(.error(status: 404, code: "not_found", message: "no such endpoint: \(head.path)"))
                }
            }
            return .respond(staticFiles.respond(to: head))
        }
    }

    /// `route(principal)` for the principal of `head`, or its refusal (counted for /metrics).
    private func authorized(_ head: HTTPRequestHead, _ route: (Principal) -> RouteDecision) -> RouteDecision {
        switch access.authenticate(head) {
        case .allow(let principal):
            return route(principal)
        case .refuse(let response, let reason):
            refusals.count(reason)
            return .respond(response)
        }
    }

    /// `/metrics`: the authority's figures (when it answers) and this process's own.
    private func metrics(_ bridge: TaskBridge) -> RouteDecision {
        .readBodyAsync { [weak self] _, _, respond in
            bridge.request(.stats) { reply in
                guard let figures = self?.loopFigures() else {
                    respond(.error(status: 503, code: "unavailable", message: "metrics are not available"))
                    return
                }
                // Without the broker the task figures are unknown, but this process's own
                // (herald_broker_connected 0 first of all) matter most right then.
                var stats: TaskHubStats?
                if case .stats(let answer) = reply { stats = answer }
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
                headers.add(name: "Cache-Control", value: "no-store")
                respond(HTTPResponse(status: 200, headers: headers, body: .bytes(MetricsEndpoint.render(stats, figures))))
            }
        }
    }

    /// `store`: "ok", "failing" (writes are refused: changes get 503 storage_unavailable until
    /// it recovers by itself) or "unknown" (the broker did not answer); nil without tasks.
    private func health(store: String?) -> HTTPResponse {
        let uptime = MonotonicSeconds.now() - startedAt
        let storeField = store.map { ",\"store\":\(JSONText.quote($0))" } ?? ""
        let body = "{\"status\":\"ok\",\"version\":\(JSONText.quote(HeraldVersion.string)),\"uptime_s\":\(Int(uptime)),\"connections\":\(openConnections())\(storeField)}"
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
