import HeraldAccess
import HeraldLoop
import HeraldTasks
import HeraldWire

/// `/ws`: topics from the query (`topic=`, `since=`, `epoch=`) and from client messages
/// (`subscribe`, `unsubscribe`, `ping`). Each subscription gets its snapshot (or `resumed` and
/// the missed events) from the actor and is registered exactly where that answer sits in the
/// event stream, so no event is missed or repeated. With access control on, every subscription
/// is asked for as the connection's principal (the actor refuses topics beyond its own), and
/// the connection ends with `token_expired` and 4001 when its token does, unless the client
/// sent a fresh one (`{"op":"auth"}`): one timer per connection, aimed at the current `exp`.
final class TopicEndpoint: WebSocketEndpoint, LoopTimerTarget {
    private let bridge: TaskBridge
    private let registry: TopicRegistry
    /// The handshake request, until `opened` has read its query: an idle socket then keeps none
    /// of it (its header fields and strings) unless the access line's figures hold the same copy.
    private var head: HTTPRequestHead?
    private let access: AccessControl
    private var principal: Principal
    /// Aimed at the token's `exp` while the connection has one: armed in the loop's timer table
    /// with this endpoint as its target (no timer object, closure or weak reference).
    private var expiryTimer = TargetDeadlineTimer()
    /// The socket the expiry closes: set in `opened` only when the token has an `exp` (a token
    /// without one never gets the timer, as before), let go in `closed` with the timer. The
    /// socket holds this endpoint, so the two hold each other until the connection closes.
    private var expiringSocket: WebSocketConnection?
    /// Topics the client wants; a subscription answered after an unsubscribe is not registered.
    private var wanted: Set<String> = []
    /// Every topic asked for during the session, in order, for its access line; bounded, since
    /// a client may subscribe and unsubscribe forever.
    private(set) var topicsForLog: [String] = []
    static let maxLoggedTopics = 32

    /// RFC 6455 §7.4.2: 4000–4999 are for applications. 4001: the token expired; reconnect
    /// with a new one (and `since=`), like Pusher's 4000–4099 "do not reconnect unchanged".
    static let tokenExpiredCloseCode: UInt16 = 4001

    private let onExpired: () -> Void

    init(bridge: TaskBridge, registry: TopicRegistry, head: HTTPRequestHead, principal: Principal, access: AccessControl,
         onExpired: @escaping () -> Void = {}) {
        self.onExpired = onExpired
        self.bridge = bridge
        self.registry = registry
        self.head = head
        self.principal = principal
        self.access = access
    }

    func opened(_ socket: WebSocketConnection) {
        guard let head else { return }
        self.head = nil
        if access.deadline(of: principal) != nil {
            expiringSocket = socket
            aimExpiryTimer()
        }
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
            socket.send(text: Self.error("invalid_message", "send a JSON object with \"op\": subscribe, unsubscribe, ping or auth"))
            return
        }
        switch op {
        case "auth":
            refresh(socket, token: message["token"])
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
            socket.send(text: Self.error("invalid_message", "unknown op \(op): use subscribe, unsubscribe, ping or auth"))
        }
    }

    func drained(_ socket: WebSocketConnection) {
        registry.drained(socket)
    }

    func closed(_ socket: WebSocketConnection) {
        expiryTimer.cancel(loop: socket.connection.loop)
        expiringSocket = nil
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
        if topicsForLog.count < Self.maxLoggedTopics, !topicsForLog.contains(name) { topicsForLog.append(name) }
        // Until the answer arrives, events of this topic are not sent: they are in the snapshot.
        registry.remove(socket, topic: name)
        let scoped = principal.visibleOwner != nil
        bridge.request(principal.scoped(.subscribe(topic: topic, since: since, epoch: epoch))) { [weak self, weak socket] reply in
            guard let self, let socket, socket.connection.isOpen, self.wanted.contains(name) else { return }
            switch reply {
            case .subscription(let messages):
                // Progress held back on its other topics is older than this snapshot.
                self.registry.catchUp(socket)
                for message in messages { socket.send(text: message) }
                self.registry.add(socket, topic: name, ownerScoped: scoped)
            case .failure(let error):
                // Forbidden topic (or the broker is away): nothing of it is sent; the socket stays.
                self.wanted.remove(name)
                socket.send(text: Self.error(error.code, error.message, topic: name))
            default:
                break
            }
        }
    }

    // MARK: Token expiry

    /// `{"op":"auth","token":…}`: a fresh token for the same `sub` and role moves the expiry;
    /// anything else is refused with an error frame and changes nothing.
    private func refresh(_ socket: WebSocketConnection, token: JSONValue?) {
        guard access.isEnabled else {
            socket.send(text: Self.error("auth_disabled", "this server does not check tokens; nothing to refresh"))
            return
        }
        guard let text = token?.stringValue else {
            socket.send(text: Self.error("invalid_message", "auth needs a \"token\" string"))
            return
        }
        guard case .success(let fresh) = access.verify(token: text) else {
            socket.send(text: Self.error("invalid_token", "the token is not valid (expired, not yet valid, wrongly signed or malformed)"))
            return
        }
        guard fresh.subject == principal.subject, fresh.role == principal.role else {
            socket.send(text: Self.error("forbidden", "a refreshed token must have the same sub and role as the connection's"))
            return
        }
        principal = fresh
        aimExpiryTimer()
        var reply = Array(#"{"type":"auth""#.utf8)
        if let exp = fresh.expiresAt {
            reply.append(contentsOf: ",\"exp\":\(Int(exp)),\"ttl\":\(max(0, Int(exp - access.now())))".utf8)
        }
        reply.append(UInt8(ascii: "}"))
        socket.send(text: reply)
    }

    private func aimExpiryTimer() {
        guard let socket = expiringSocket else { return }
        guard let deadline = access.deadline(of: principal) else {
            expiryTimer.cancel(loop: socket.connection.loop)
            return
        }
        let remaining = max(0, deadline - access.now())
        expiryTimer.aim(at: MonotonicClock.now() + UInt64(min(remaining, 1e9) * 1e9), target: self, loop: socket.connection.loop)
    }

    func loopTimerFired() {
        guard let socket = expiringSocket else { return }
        checkExpiry(socket)
    }

    private func checkExpiry(_ socket: WebSocketConnection) {
        guard let deadline = access.deadline(of: principal) else { return }
        guard access.now() >= deadline else {
            aimExpiryTimer()  // fired early, or the token was refreshed meanwhile
            return
        }
        wanted.removeAll()
        registry.removeAll(socket)
        onExpired()
        socket.send(text: Self.error("token_expired", "the token expired: reconnect with a new one (and since= to resume)"))
        socket.close(code: Self.tokenExpiredCloseCode, reason: "token expired")
    }

    static func error(_ code: String, _ message: String, topic: String? = nil) -> [UInt8] {
        var out = Array(#"{"type":"error","code":"#.utf8)
        JSONWriter.writeString(code, into: &out)
        if let topic {
            out.append(contentsOf: #","topic":"#.utf8)
            JSONWriter.writeString(topic, into: &out)
        }
        out.append(contentsOf: #","message":"#.utf8)
        JSONWriter.writeString(message, into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }
}
