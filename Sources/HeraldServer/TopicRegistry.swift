import HeraldLoop
import HeraldTasks
import HeraldWire

/// Who is subscribed to what, on one loop. Each event arrives once per topic as JSON; it is
/// framed once into a `FanOutFrame` (plain, and deflated once for deflate subscribers) and
/// queued on every subscriber of that topic. A subscriber far behind stops getting that topic's
/// progress events queued: the topic keeps the newest one per task (`TopicSubscribers.table`)
/// and the subscriber takes them, in seq order, before its next lifecycle event or when its
/// queue drains, so superseded progress is skipped at a cost per event that does not grow with
/// the number of such subscribers. Past the hard cap a subscriber is closed with 1008 and can
/// resume with `since=`.
final class TopicRegistry {
    private var topics: [String: Topic] = [:]
    // A subscriber's own topics are kept on the socket (`subscribedTopics`), not in a
    // dictionary here: one entry per socket was ~50 bytes of every idle subscriber (S3).
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
    /// Progress events a subscriber far behind never got because a newer one of the same task
    /// (and topic) superseded it.
    private(set) var progressConflated: UInt64 = 0

    /// A topic with one subscriber that gets every frame (most of them: a task watched by one
    /// page, S2's and S3's 10,000 topics) keeps just that socket; the `TopicSubscribers` object
    /// (72 bytes and an allocation per topic, S3) comes with a second subscriber or when the
    /// only one falls behind and needs the topic's conflation table. It is not given back.
    private enum Topic {
        case one(WebSocketConnection)
        case many(TopicSubscribers)

        subscript(id: ObjectIdentifier) -> WebSocketConnection? {
            switch self {
            case .one(let socket): return ObjectIdentifier(socket) == id ? socket : nil
            case .many(let subscribers): return subscribers[id]
            }
        }

        var sockets: [WebSocketConnection] {
            switch self {
            case .one(let socket): return [socket]
            case .many(let subscribers): return subscribers.sockets
            }
        }
    }

    /// The topic's subscribers object, made from a single subscriber if it has none yet.
    private func subscribersObject(_ topic: String) -> TopicSubscribers? {
        switch topics[topic] {
        case nil: return nil
        case .many(let subscribers)?: return subscribers
        case .one(let socket)?:
            let subscribers = TopicSubscribers()
            subscribers.normal[ObjectIdentifier(socket)] = socket
            topics[topic] = .many(subscribers)
            return subscribers
        }
    }

    /// The subscribers object of a topic that has one (a conflating subscriber's topics always do).
    private func existingSubscribers(_ topic: String) -> TopicSubscribers? {
        if case .many(let subscribers)? = topics[topic] { return subscribers }
        return nil
    }

    init(maxQueuedBytes: Int) {
        self.maxQueuedBytes = maxQueuedBytes
    }

    private(set) var subscriptionCount = 0
    /// Sockets subscribed to at least one topic.
    private(set) var subscriberCount = 0

    func add(_ socket: WebSocketConnection, topic: String, ownerScoped: Bool = false) {
        let id = ObjectIdentifier(socket)
        switch topics[topic] {
        case nil:
            topics[topic] = .one(socket)
        case .one(let only)? where only === socket:
            break
        case .one?, .many?:
            let subscribers = subscribersObject(topic)!
            if subscribers.conflating[id] == nil { subscribers.normal[id] = socket }
        }
        if !socket.subscribedTopics.contains(topic) {
            if socket.subscribedTopics.isEmpty { subscriberCount += 1 }
            socket.subscribedTopics.insert(topic)
            subscriptionCount += 1
        }
        if ownerScoped && topic.hasPrefix("task:") { ownerScopedTaskTopics[topic, default: []].insert(id) }
    }

    /// Unsubscribes; progress held back for the socket is queued first (it was due before).
    func remove(_ socket: WebSocketConnection, topic: String) {
        let id = ObjectIdentifier(socket)
        forgetOwnerScoped(id, topic: topic)
        if case .one(let only)? = topics[topic], only === socket {
            topics.removeValue(forKey: topic)
        } else if let subscribers = existingSubscribers(topic) {
            if subscribers.conflating[id] != nil {
                catchUp(socket)
                stopConflating(socket, topic: topic, subscribers)
            }
            subscribers.normal.removeValue(forKey: id)
            if subscribers.isEmpty { topics.removeValue(forKey: topic) }
        }
        if socket.subscribedTopics.contains(topic) {
            socket.subscribedTopics.remove(topic)
            subscriptionCount -= 1
            if socket.subscribedTopics.isEmpty { subscriberCount -= 1 }
        }
    }

    func removeAll(_ socket: WebSocketConnection) {
        let id = ObjectIdentifier(socket)
        let subscribed = socket.subscribedTopics
        socket.subscribedTopics = TopicSet()
        subscriptionCount -= subscribed.count
        if !subscribed.isEmpty { subscriberCount -= 1 }
        for topic in subscribed {
            forgetOwnerScoped(id, topic: topic)
            if case .one(let only)? = topics[topic], only === socket {
                topics.removeValue(forKey: topic)
                continue
            }
            guard let subscribers = existingSubscribers(topic) else { continue }
            subscribers.normal.removeValue(forKey: id)
            if subscribers.conflating[id] != nil { stopConflating(socket, topic: topic, subscribers) }
            if subscribers.isEmpty { topics.removeValue(forKey: topic) }
        }
    }

    /// Closes every subscriber (they resume with `since=`).
    func closeAll(code: UInt16, reason: String) {
        var seen = Set<ObjectIdentifier>()
        for socket in topics.values.flatMap(\.sockets) where seen.insert(ObjectIdentifier(socket)).inserted {
            socket.close(code: code, reason: reason)
        }
    }

    func isSubscribed(_ socket: WebSocketConnection, topic: String) -> Bool {
        socket.subscribedTopics.contains(topic)
    }

    func deliver(_ event: PublishedEvent) {
        for index in 0..<event.topicCount {
            let topic = event.topic(at: index)
            // A topic nobody here subscribes to costs a lookup: its text is never written.
            if topics[topic] != nil {
                let key = event.isProgress ? Self.conflationKey(topic: topic, taskID: event.taskID) : nil
                fanOut(event.message(at: index), topic: topic, seq: event.seq, conflationKey: key,
                       closeReason: "subscriber too slow: resume with since=\(event.seq)")
            }
            if event.taskJSON == nil, let scoped = ownerScopedTaskTopics.removeValue(forKey: topic) {
                // `removed`: the task these subscribers owned is gone (see ownerScopedTaskTopics).
                for id in scoped {
                    if let socket = topics[topic]?[id] { remove(socket, topic: topic) }
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
        fanOut(payload, topic: topic, seq: 0, conflationKey: nil, closeReason: "subscriber too slow")
    }

    /// Frames `json` once and queues it on the subscribers of `topic`. A progress event
    /// (`conflationKey`) skips those far behind: it goes to the topic's table instead, once.
    /// Any other event first gives them what the table holds for them. A subscriber past the
    /// cap is closed with 1008.
    private func fanOut(_ json: [UInt8], topic: String, seq: UInt64, conflationKey key: UInt64?,
                        closeReason: @autoclosure () -> String) {
        guard let entry = topics[topic] else { return }
        let frame = FanOutFrame(json: json)
        let subscribers: TopicSubscribers
        switch entry {
        case .many(let many):
            subscribers = many
        case .one(let socket):
            // What the loop below does for one normal subscriber that keeps up.
            if key == nil || socket.connection.pendingOutputBytes < Self.conflationBacklogBytes {
                catchUp(socket)  // conflating on another topic: what it holds comes first
                queue(frame, on: socket, closeReason())
                return
            }
            subscribers = subscribersObject(topic)!  // it falls behind: the topic needs its table
        }
        guard let key else {
            for socket in subscribers.normal.values {
                catchUp(socket)
                queue(frame, on: socket, closeReason())
            }
            for conflating in Array(subscribers.conflating.values) {
                let socket = conflating.socket
                catchUp(socket)
                if socket.connection.pendingOutputBytes < Self.conflationBacklogBytes { resumeNormal(socket) }
                queue(frame, on: socket, closeReason())
            }
            return
        }
        var fallenBehind: [WebSocketConnection] = []
        for socket in subscribers.normal.values {
            if socket.connection.pendingOutputBytes >= Self.conflationBacklogBytes {
                fallenBehind.append(socket)
            } else {
                catchUp(socket)  // conflating on another topic: what it holds comes first
                queue(frame, on: socket, closeReason())
            }
        }
        for socket in fallenBehind {
            subscribers.normal.removeValue(forKey: ObjectIdentifier(socket))
            subscribers.conflating[ObjectIdentifier(socket)] = ConflatingSubscriber(socket: socket, mark: subscribers.table.version)
            socket.conflatingTopics.insert(topic)
        }
        guard !subscribers.conflating.isEmpty else { return }
        subscribers.table.update(key: key, seq: seq, frame: frame)
        if subscribers.table.wantsCompaction {
            subscribers.table.compact(droppingUpTo: subscribers.conflating.values.lazy.map(\.mark).min() ?? 0)
        }
    }

    private func queue(_ frame: FanOutFrame, on socket: WebSocketConnection, _ closeReason: @autoclosure () -> String) {
        socket.send(encodedFrame: frame)
        framesDelivered += 1
        if socket.connection.pendingOutputBytes > maxQueuedBytes {
            slowSubscribersClosed += 1
            socket.abort(code: 1008, reason: closeReason())
        }
    }

    // MARK: Conflating subscribers

    /// Queues the progress held back for `socket` on each topic where it is conflating (the
    /// newest frame per task it has not taken), in seq order; it stays conflating.
    func catchUp(_ socket: WebSocketConnection) {
        guard !socket.conflatingTopics.isEmpty else { return }
        let id = ObjectIdentifier(socket)
        var held: [ConflationTable.Entry] = []
        for topic in socket.conflatingTopics {
            guard let subscribers = existingSubscribers(topic), let conflating = subscribers.conflating[id] else { continue }
            let newer = subscribers.table.entries(after: conflating.mark)
            // Every update after the mark was one progress event of this topic; those not
            // handed over now were superseded.
            progressConflated += (subscribers.table.version - conflating.mark) - UInt64(newer.count)
            conflating.mark = subscribers.table.version
            held += newer
        }
        if socket.conflatingTopics.count > 1 { held.sort { $0.seq < $1.seq } }
        let replacedBefore = socket.connection.conflatedChunks
        for entry in held {
            guard let frame = entry.frame else { continue }
            // Still far behind: an older frame of the task queued earlier is replaced in place.
            socket.send(encodedFrame: frame, conflationKey: entry.key)
        }
        framesDelivered += UInt64(held.count)
        progressConflated += socket.connection.conflatedChunks - replacedBefore
    }

    /// The socket's queue is empty: it takes what was held back and gets every event again.
    func drained(_ socket: WebSocketConnection) {
        guard !socket.conflatingTopics.isEmpty else { return }
        catchUp(socket)
        resumeNormal(socket)
    }

    private func resumeNormal(_ socket: WebSocketConnection) {
        for topic in socket.conflatingTopics {
            guard let subscribers = existingSubscribers(topic) else { continue }
            stopConflating(socket, topic: topic, subscribers)
            subscribers.normal[ObjectIdentifier(socket)] = socket
        }
        socket.conflatingTopics.removeAll()
    }

    private func stopConflating(_ socket: WebSocketConnection, topic: String, _ subscribers: TopicSubscribers) {
        subscribers.conflating.removeValue(forKey: ObjectIdentifier(socket))
        socket.conflatingTopics.remove(topic)
        if subscribers.conflating.isEmpty { subscribers.table.removeAll() }
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
