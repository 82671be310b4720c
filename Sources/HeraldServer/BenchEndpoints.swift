import HeraldWire

/// `--bench` (contract: "Bench endpoints"): `GET /sub/<topic>` subscribes a WebSocket to a raw
/// topic, `POST /pub/<topic>` sends its body verbatim as one text frame to every current
/// subscriber and answers 202 — through the same `TopicRegistry` fan-out, output queues and
/// once-per-turn flushing as task events, so `../shared/bench` measures Herald on the same work
/// as the other push servers. Raw topics live in their own namespace (task topics can never
/// collide with them) and are per process: with `--workers` a publish reaches the subscribers
/// of the worker it landed on.
enum BenchEndpoints {
    /// Longest raw topic name, in bytes.
    static let maxTopicBytes = 256

    /// What a path is here: `/sub/<topic>` or `/pub/<topic>` with the topic's registry name, a
    /// bad topic under one of them (empty, too long or nested), or neither.
    enum Target: Equatable {
        case subscribe(String)
        case publish(String)
        case badTopic
        case other
    }

    /// `Target` read from the path's bytes: `hasPrefix`, `dropFirst` and a `String`
    /// concatenation per publish were 2.5k of S2's 22k instructions per request (callgrind).
    /// Raw topic names are kept apart from task topics by a leading NUL byte, which no task
    /// topic can have; one byte, so a short name stays a small string (no allocation).
    static func target(of path: String) -> Target {
        var path = path
        return path.withUTF8 { bytes in
            let slash = UInt8(ascii: "/")
            guard bytes.count >= 5, bytes[0] == slash, bytes[4] == slash,
                  bytes[2] == UInt8(ascii: "u"), bytes[3] == UInt8(ascii: "b") else { return .other }
            let subscribe = bytes[1] == UInt8(ascii: "s")
            guard subscribe || bytes[1] == UInt8(ascii: "p") else { return .other }
            let name = UnsafeBufferPointer(rebasing: bytes[5...])
            guard !name.isEmpty, name.count <= maxTopicBytes else { return .badTopic }
            for byte in name where byte == slash { return .badTopic }
            let topic = String(unsafeUninitializedCapacity: name.count + 1) { out in
                out[0] = 0
                _ = UnsafeMutableBufferPointer(rebasing: out[1...]).initialize(from: name)
                return name.count + 1
            }
            return subscribe ? .subscribe(topic) : .publish(topic)
        }
    }

    static func route(_ head: HTTPRequestHead, registry: TopicRegistry, maxMessageSize: Int) -> RouteDecision? {
        switch target(of: head.path) {
        case .other:
            return nil
        case .badTopic:
            return .respond(badTopic)
        case .subscribe(let topic):
            guard head.method == "GET" else { return .respond(.methodNotAllowed(allow: "GET")) }
            return .upgrade(WebSocketRoute(maxMessageSize: maxMessageSize) { _ in BenchSubscriber(registry: registry, topic: topic) })
        case .publish(let topic):
            guard head.method == "POST" else { return .respond(.methodNotAllowed(allow: "POST")) }
            return .readBody { _, body in
                // It goes out as a text frame, which must be UTF-8 (RFC 6455 §5.6).
                var utf8 = UTF8StreamValidator()
                guard utf8.feed(body), utf8.isAtBoundary else { return notText }
                registry.deliver(raw: body, topic: topic)
                return accepted
            }
        }
    }

    static let accepted = HTTPResponse(status: 202)

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
