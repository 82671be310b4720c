import HeraldTasks
import HeraldWire

/// `/ws`: topics from the query (`topic=`, `since=`, `epoch=`) and from client messages
/// (`subscribe`, `unsubscribe`, `ping`). Each subscription gets its snapshot (or `resumed` and
/// the missed events) from the actor and is registered exactly where that answer sits in the
/// event stream, so no event is missed or repeated.
final class TopicEndpoint: WebSocketEndpoint {
    private let bridge: TaskBridge
    private let registry: TopicRegistry
    private let head: HTTPRequestHead
    /// Topics the client wants; a subscription answered after an unsubscribe is not registered.
    private var wanted: Set<String> = []

    init(bridge: TaskBridge, registry: TopicRegistry, head: HTTPRequestHead) {
        self.bridge = bridge
        self.registry = registry
        self.head = head
    }

    func opened(_ socket: WebSocketConnection) {
        let since = head.queryValue("since")
        let epoch = head.queryValue("epoch")
        var sinceValue: UInt64?
        if let since {
            guard let parsed = UInt64(since) else {
                socket.send(text: Self.error("invalid_since", "since must be a non-negative integer (the last seq you saw)"))
                return
            }
            sinceValue = parsed
        }
        for topic in head.queryValues("topic") {
            subscribe(socket, topic: topic, since: sinceValue, epoch: epoch)
        }
    }

    func received(_ socket: WebSocketConnection, kind: WebSocketMessageKind, payload: [UInt8]) {
        guard kind == .text, let value = try? JSONParser.parse(payload), case .object(let message) = value,
              let op = message["op"]?.stringValue
        else {
            socket.send(text: Self.error("invalid_message", "send a JSON object with \"op\": subscribe, unsubscribe or ping"))
            return
        }
        switch op {
        case "ping":
            socket.send(text: Array(#"{"type":"pong"}"#.utf8))
        case "subscribe":
            guard let topic = message["topic"]?.stringValue else {
                socket.send(text: Self.error("invalid_message", "subscribe needs a \"topic\""))
                return
            }
            var since: UInt64?
            if let value = message["since"], !value.isNull {
                guard let d = value.numberValue, d >= 0, d == d.rounded(), d < 9.0e15 else {
                    socket.send(text: Self.error("invalid_since", "since must be a non-negative integer (the last seq you saw)"))
                    return
                }
                since = UInt64(d)
            }
            subscribe(socket, topic: topic, since: since, epoch: message["epoch"]?.stringValue)
        case "unsubscribe":
            guard let topic = message["topic"]?.stringValue else {
                socket.send(text: Self.error("invalid_message", "unsubscribe needs a \"topic\""))
                return
            }
            wanted.remove(topic)
            registry.remove(socket, topic: topic)
            var reply = Array(#"{"type":"unsubscribed","topic":"#.utf8)
            JSONWriter.writeString(topic, into: &reply)
            reply.append(UInt8(ascii: "}"))
            socket.send(text: reply)
        default:
            socket.send(text: Self.error("invalid_message", "unknown op \(op): use subscribe, unsubscribe or ping"))
        }
    }

    func closed(_ socket: WebSocketConnection) {
        wanted.removeAll()
        registry.removeAll(socket)
    }

    private func subscribe(_ socket: WebSocketConnection, topic text: String, since: UInt64?, epoch: String?) {
        guard let topic = TaskTopic(text) else {
            socket.send(text: Self.error("invalid_topic", "unknown topic \(text): use tasks, task:<id> or owner:<name>"))
            return
        }
        let name = topic.description
        wanted.insert(name)
        // Until the answer arrives, events of this topic are not sent: they are in the snapshot.
        registry.remove(socket, topic: name)
        bridge.request(.subscribe(topic: topic, since: since, epoch: epoch)) { [weak self, weak socket] reply in
            guard let self, let socket, socket.connection.isOpen, self.wanted.contains(name),
                  case .subscription(let messages) = reply else { return }
            for message in messages { socket.send(text: message) }
            self.registry.add(socket, topic: name)
        }
    }

    static func error(_ code: String, _ message: String) -> [UInt8] {
        var out = Array(#"{"type":"error","code":"#.utf8)
        JSONWriter.writeString(code, into: &out)
        out.append(contentsOf: #","message":"#.utf8)
        JSONWriter.writeString(message, into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }
}
