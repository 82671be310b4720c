import HeraldWire

/// `--bench` (contract: "Bench endpoints"): `GET /sub/<topic>` subscribes a WebSocket to a raw
/// topic, `POST /pub/<topic>` sends its body verbatim as one text frame to every current
/// subscriber and answers 202 — through the same `TopicRegistry` fan-out, output queues and
/// once-per-turn flushing as task events, so `../shared/bench` measures Herald on the same work
/// as the other push servers. Raw topics live in their own namespace (task topics can never
/// collide with them) and are per process: with `--workers` a publish reaches the subscribers
/// of the worker it landed on.
enum BenchEndpoints {
    /// Raw topic names are kept apart from task topics by a prefix no task topic can have; one
    /// byte, so a short name stays a small string (no allocation per publish).
    static func registryTopic(_ name: Substring) -> String { "\u{0}" + name }

    /// Longest raw topic name, in bytes.
    static let maxTopicBytes = 256

    /// The topic of `/sub/<topic>` or `/pub/<topic>`; nil when empty, too long or nested.
    static func topic(in path: String, prefix: String) -> Substring? {
        guard path.hasPrefix(prefix) else { return nil }
        let name = path.dropFirst(prefix.count)
        // On the bytes: `contains("/")` resolved to Foundation's substring search (2 % of S2's CPU).
        guard !name.isEmpty, name.utf8.count <= maxTopicBytes, !name.utf8.contains(UInt8(ascii: "/")) else { return nil }
        return name
    }

    static func route(_ head: HTTPRequestHead, registry: TopicRegistry, maxMessageSize: Int) -> RouteDecision? {
        if head.path.hasPrefix("/sub/") {
            guard let name = topic(in: head.path, prefix: "/sub/") else { return .respond(badTopic) }
            guard head.method == "GET" else { return .respond(.methodNotAllowed(allow: "GET")) }
            let topic = registryTopic(name)
            return .upgrade(WebSocketRoute(maxMessageSize: maxMessageSize) { _ in BenchSubscriber(registry: registry, topic: topic) })
        }
        if head.path.hasPrefix("/pub/") {
            guard let name = topic(in: head.path, prefix: "/pub/") else { return .respond(badTopic) }
            guard head.method == "POST" else { return .respond(.methodNotAllowed(allow: "POST")) }
            let topic = registryTopic(name)
            return .readBody { _, body in
                // It goes out as a text frame, which must be UTF-8 (RFC 6455 §5.6).
                var utf8 = UTF8StreamValidator()
                guard utf8.feed(body), utf8.isAtBoundary else { return notText }
                registry.deliver(raw: body, topic: topic)
                return HTTPResponse(status: 202)
            }
        }
        return nil
    }

    static let notText = HTTPResponse.error(
        status: 400, code: "invalid_body", message: "a published body goes out as a text frame: it must be UTF-8")

    static let badTopic = HTTPResponse.error(
        status: 400, code: "invalid_topic", message: "a bench topic is 1 to \(maxTopicBytes) bytes without '/': /sub/<topic>, /pub/<topic>")
}

/// One `/sub/<topic>` WebSocket: subscribed while open; what it sends is ignored.
final class BenchSubscriber: WebSocketEndpoint {
    private let registry: TopicRegistry
    private let topic: String

    init(registry: TopicRegistry, topic: String) {
        self.registry = registry
        self.topic = topic
    }

    func opened(_ socket: WebSocketConnection) { registry.add(socket, topic: topic) }
    func received(_ socket: WebSocketConnection, kind: WebSocketMessageKind, payload: [UInt8]) {}
    func closed(_ socket: WebSocketConnection) { registry.removeAll(socket) }
}
