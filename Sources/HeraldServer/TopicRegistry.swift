import HeraldLoop
import HeraldTasks
import HeraldWire

/// Who is subscribed to what, on one loop. Each event arrives once per topic as JSON; it is
/// framed once into a `FanOutFrame` (plain, and deflated once for deflate subscribers) and
/// queued on every subscriber of that topic. A slow subscriber's queued progress events are
/// conflated per task; past the hard cap it is closed with 1008 and can resume with `since=`.
final class TopicRegistry {
    private var subscribers: [String: [ObjectIdentifier: WebSocketConnection]] = [:]
    private var topicsOf: [ObjectIdentifier: Set<String>] = [:]
    /// Subscribers of `task:<id>` that see only their own tasks. When that task is removed their
    /// subscription ends with the `removed` event: a new task with the same id may belong to
    /// someone else, and they must not hear of it.
    private var ownerScopedTaskTopics: [String: Set<ObjectIdentifier>] = [:]
    private let maxQueuedBytes: Int
    /// Progress events are conflated only for a subscriber this far behind: a healthy one
    /// drains its queue every loop turn and must see every event (no seq gaps), even when
    /// several events of one task arrive in the same turn.
    static let conflationBacklogBytes = 64 * 1024
    private(set) var framesDelivered: UInt64 = 0
    private(set) var slowSubscribersClosed: UInt64 = 0

    init(maxQueuedBytes: Int) {
        self.maxQueuedBytes = maxQueuedBytes
    }

    var subscriptionCount: Int { topicsOf.values.reduce(0) { $0 + $1.count } }
    var subscriberCount: Int { topicsOf.count }

    func add(_ socket: WebSocketConnection, topic: String, ownerScoped: Bool = false) {
        let id = ObjectIdentifier(socket)
        subscribers[topic, default: [:]][id] = socket
        topicsOf[id, default: []].insert(topic)
        if ownerScoped && topic.hasPrefix("task:") { ownerScopedTaskTopics[topic, default: []].insert(id) }
    }

    func remove(_ socket: WebSocketConnection, topic: String) {
        let id = ObjectIdentifier(socket)
        forgetOwnerScoped(id, topic: topic)
        subscribers[topic]?.removeValue(forKey: id)
        if subscribers[topic]?.isEmpty == true { subscribers.removeValue(forKey: topic) }
        topicsOf[id]?.remove(topic)
        if topicsOf[id]?.isEmpty == true { topicsOf.removeValue(forKey: id) }
    }

    func removeAll(_ socket: WebSocketConnection) {
        let id = ObjectIdentifier(socket)
        for topic in topicsOf.removeValue(forKey: id) ?? [] {
            forgetOwnerScoped(id, topic: topic)
            subscribers[topic]?.removeValue(forKey: id)
            if subscribers[topic]?.isEmpty == true { subscribers.removeValue(forKey: topic) }
        }
    }

    /// Closes every subscriber (they resume with `since=`).
    func closeAll(code: UInt16, reason: String) {
        var seen = Set<ObjectIdentifier>()
        for socket in subscribers.values.flatMap(\.values) where seen.insert(ObjectIdentifier(socket)).inserted {
            socket.close(code: code, reason: reason)
        }
    }

    func isSubscribed(_ socket: WebSocketConnection, topic: String) -> Bool {
        topicsOf[ObjectIdentifier(socket)]?.contains(topic) ?? false
    }

    func deliver(_ event: PublishedEvent) {
        for message in event.messages {
            let key = event.isProgress ? Self.conflationKey(topic: message.topic, taskID: event.taskID) : nil
            fanOut(message.json, topic: message.topic, conflationKey: key,
                   closeReason: "subscriber too slow: resume with since=\(event.seq)")
            if event.taskJSON == nil, let scoped = ownerScopedTaskTopics.removeValue(forKey: message.topic) {
                // `removed`: the task these subscribers owned is gone (see ownerScopedTaskTopics).
                for id in scoped {
                    if let socket = subscribers[message.topic]?[id] { remove(socket, topic: message.topic) }
                }
            }
        }
    }

    private func forgetOwnerScoped(_ id: ObjectIdentifier, topic: String) {
        guard ownerScopedTaskTopics[topic]?.remove(id) != nil else { return }
        if ownerScopedTaskTopics[topic]?.isEmpty == true { ownerScopedTaskTopics.removeValue(forKey: topic) }
    }

    /// A `/pub/<topic>` body (`--bench`): the same fan-out, without a task around it.
    func deliver(raw payload: [UInt8], topic: String) {
        fanOut(payload, topic: topic, conflationKey: nil, closeReason: "subscriber too slow")
    }

    /// Frames `json` once and queues it on every subscriber of `topic`; a subscriber far behind
    /// gets progress conflated (`conflationKey`), one past the cap is closed with 1008.
    private func fanOut(_ json: [UInt8], topic: String, conflationKey key: UInt64?, closeReason: @autoclosure () -> String) {
        guard let sockets = subscribers[topic], !sockets.isEmpty else { return }
        let frame = FanOutFrame(json: json)
        for socket in sockets.values {
            let behind = socket.connection.pendingOutputBytes >= Self.conflationBacklogBytes
            socket.send(encodedFrame: frame, conflationKey: behind ? key : nil)
            framesDelivered += 1
            if socket.connection.pendingOutputBytes > maxQueuedBytes {
                slowSubscribersClosed += 1
                socket.abort(code: 1008, reason: closeReason())
            }
        }
    }

    /// FNV-1a over topic and task id: one slot per (topic, task) in a subscriber's queue.
    static func conflationKey(topic: String, taskID: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in topic.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        hash = (hash ^ 0xFF) &* 0x100_0000_01b3
        for byte in taskID.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }
}
