import HeraldLoop
import HeraldWire

/// An upgraded connection: runs the pure `WebSocketSession` over a loop connection, hands
/// messages to its endpoint, pings when idle, closes when pongs stop, and bounds the close
/// handshake.
final class WebSocketConnection: ConnectionDelegate, LoopTimerTarget, RosterMember {
    // Stored properties are laid out in declaration order; what an idle socket does not use is
    // out of line (`log`), small fields sit together (S3, memory per idle WebSocket).
    let connection: Connection
    private let context: ServerContext
    private let endpoint: WebSocketEndpoint
    private var session: WebSocketSession
    private var input = ByteBuffer()
    private var lastHeard: UInt64
    /// When our ping went out; 0 while none is outstanding (the monotonic clock is never 0).
    private var pingSentAt: UInt64 = 0
    /// When our close frame went out; 0 before.
    private var closeSentAt: UInt64 = 0
    /// Armed in the loop's timer table with this socket as its target (no closure, no weak reference).
    private var timer = TargetDeadlineTimer()
    /// The access line's figures, kept only with access logging on.
    private let log: AccessFigures?
    /// Topics whose progress `TopicRegistry` holds back for this socket (it is far behind);
    /// kept by the registry, here so its fan-out can tell without a lookup per subscriber.
    var conflatingTopics: Set<String> = []
    /// The topics `TopicRegistry` has this socket subscribed to; kept by the registry, here
    /// rather than in a dictionary of its own (inline for one topic, the common case).
    var subscribedTopics = TopicSet()
    /// The window our compressed messages may use when permessage-deflate was negotiated (only
    /// this is kept: an idle connection carries nothing else of it); 0: plain frames.
    private let deflateBits: UInt8
    private var finished = false
    /// Set when our close frame is written. The session's own state runs ahead of us: it has
    /// already parsed a whole read (say, a message then a bad frame) before we act on it, and the
    /// echo of that message must still go out before the close.
    private var closeFrameWritten = false
    /// Where `context.webSockets` keeps this socket (next to the small fields: no padding added).
    var rosterIndex: Int32 = -1

    var deflateWindowBits: Int? { deflateBits == 0 ? nil : Int(deflateBits) }

    /// For the access line: counted only with access logging on.
    private final class AccessFigures {
        let startedAt: UInt64
        /// The handshake request (TopicEndpoint holds the same copy).
        let head: HTTPRequestHead
        var framesSent: UInt64 = 0
        var framesReceived: UInt64 = 0
        var bytesSent: UInt64 = 0
        var bytesReceived: UInt64 = 0
        /// The first close frame's code and sender; nil until one is sent or received.
        var closing: (code: UInt16, by: ClosingSide)?

        init(startedAt: UInt64, head: HTTPRequestHead) {
            self.startedAt = startedAt
            self.head = head
        }

        func sent(_ bytes: Int) {
            framesSent &+= 1
            bytesSent &+= UInt64(bytes)
        }

        func closing(_ code: UInt16, by side: ClosingSide) {
            if closing == nil { closing = (code, side) }
        }
    }

    private var canSend: Bool { !closeFrameWritten && connection.isOpen }

    init(connection: Connection, context: ServerContext, route: WebSocketRoute, head: HTTPRequestHead) {
        self.connection = connection
        self.context = context
        endpoint = route.makeEndpoint(head)
        deflateBits = UInt8(route.deflate?.serverMaxWindowBits ?? 0)
        session = WebSocketSession(maxMessageSize: route.maxMessageSize, compression: route.deflate != nil)
        lastHeard = connection.loop.now
        log = context.accessLog == nil ? nil : AccessFigures(startedAt: connection.loop.now, head: head)
    }

    func start(leftover: ByteBuffer) {
        context.webSockets.insert(self)
        endpoint.opened(self)
        input = leftover
        if !input.isEmpty { process() }
        rearmTimer()
    }

    // MARK: Sending

    func send(_ kind: WebSocketMessageKind, _ payload: [UInt8]) {
        guard canSend else { return }
        let opcode: WebSocketOpcode = kind == .text ? .text : .binary
        if let deflateWindowBits, let compressed = context.deflaters.compress(payload, windowBits: deflateWindowBits) {
            return send(frame: MessageDeflaters.frame(opcode: opcode, payload: compressed, compressed: true))
        }
        let frame = WebSocketFrameEncoder.encode(opcode: opcode, payload: payload)
        log?.sent(frame.count)
        connection.write(frame)
    }

    /// An event encoded once for every subscriber (fan-out): the compressed frame when this
    /// connection negotiated deflate, else the plain one.
    func send(encodedFrame: FanOutFrame, conflationKey: UInt64? = nil) {
        send(frame: encodedFrame.frame(windowBits: deflateWindowBits, deflaters: context.deflaters), conflationKey: conflationKey)
    }

    /// A whole frame; with a conflation key, it replaces a still-unsent frame queued under
    /// the same key.
    private func send(frame encodedFrame: SharedBytes, conflationKey: UInt64? = nil) {
        guard canSend else { return }
        log?.sent(encodedFrame.count)
        if let conflationKey {
            connection.write(encodedFrame, conflationKey: conflationKey)
        } else {
            connection.write(encodedFrame)
        }
    }

    func send(text: [UInt8]) {
        send(.text, text)
    }

    /// Closes at once with a close frame placed ahead of nothing: the queued output is dropped
    /// (the peer is not reading it anyway), then the close frame is sent and the TCP closed.
    func abort(code: UInt16, reason: String) {
        guard connection.isOpen else { return }
        connection.discardPendingOutput()
        closeFrameWritten = true
        log?.closing(code, by: .server)
        let frame = WebSocketFrameEncoder.closeFrame(code: code, reason: reason)
        log?.bytesSent &+= UInt64(frame.count)
        connection.write(frame)
        connection.closeAfterFlush()
    }

    /// Starts the close handshake; the connection closes when the peer answers or after the timeout.
    func close(code: UInt16, reason: String) {
        guard session.canSend else { return }
        log?.closing(code, by: .server)
        perform(session.close(code: code, reason: reason))
        closeSentAt = MonotonicClock.now()
        rearmTimer()
    }

    // MARK: ConnectionDelegate

    func connection(_ connection: Connection, didRead bytes: UnsafeRawBufferPointer) {
        input.append(bytes)
        log?.bytesReceived &+= UInt64(bytes.count)
        lastHeard = connection.loop.now
        process()
        rearmTimer()
    }

    func connectionDidReadEOF(_ connection: Connection) {
        // TCP closed without a close frame (RFC 6455 §7.1.5: 1006); nothing more can be said.
        log?.closing(WebSocketCloseCode.abnormalClosure, by: .client)
        connection.close()
    }

    func connectionDidDrain(_ connection: Connection) {
        endpoint.drained(self)
    }

    func connectionDidClose(_ connection: Connection) {
        timer.cancel(loop: connection.loop)
        context.webSockets.remove(self)
        if !finished {
            finished = true
            endpoint.closed(self)
        }
        if let accessLog = context.accessLog, let log { accessLog.webSocket(accessRecord(log), peer: connection.peer) }
    }

    private func accessRecord(_ log: AccessFigures) -> WebSocketAccessRecord {
        // Closed without any close frame and no EOF seen: a reset or an error on the socket.
        let (code, by) = log.closing ?? (WebSocketCloseCode.abnormalClosure, .client)
        let now = MonotonicClock.now()
        return WebSocketAccessRecord(
            target: log.head.target, topics: endpoint.topicsForLog, durationNanos: now >= log.startedAt ? now - log.startedAt : 0,
            framesSent: log.framesSent &- min(log.framesSent, connection.conflatedChunks), framesReceived: log.framesReceived,
            bytesSent: log.bytesSent, bytesReceived: log.bytesReceived, closeCode: code, closedBy: by,
            userAgent: log.head.headers["user-agent"], requestID: log.head.headers["x-request-id"])
    }

    // MARK: Protocol

    private func process() {
        perform(session.receive(&input))
    }

    private func perform(_ actions: [WebSocketAction]) {
        for action in actions {
            switch action {
            case .deliver(let kind, let payload):
                log?.framesReceived &+= 1
                endpoint.received(self, kind: kind, payload: payload)
            case .send(let bytes):
                if bytes.first.map({ $0 & 0x0F == WebSocketOpcode.close.rawValue }) == true {
                    closeFrameWritten = true
                    if let log, log.closing == nil { log.closing = Self.closing(sent: bytes, peerCode: session.receivedCloseCode) }
                }
                log?.bytesSent &+= UInt64(bytes.count)
                connection.write(bytes)
            case .pongReceived:
                pingSentAt = 0
            case .closeTransport:
                connection.closeAfterFlush()
            }
        }
    }

    // MARK: Liveness

    private func deadline() -> UInt64 {
        let config = context.configuration
        if closeSentAt != 0 { return closeSentAt + nanos(config.closeHandshakeTimeout) }
        if pingSentAt != 0 { return pingSentAt + nanos(config.pongTimeout) }
        return lastHeard + nanos(config.pingInterval)
    }

    func loopTimerFired() {
        timerFired()
        rearmTimer()
    }

    private func timerFired() {
        let now = MonotonicClock.now()
        guard connection.isOpen, now >= deadline() else { return }
        if closeSentAt != 0 || pingSentAt != 0 {
            // No close reply / no pong in time: the peer is gone or stuck.
            log?.closing(WebSocketCloseCode.abnormalClosure, by: .server)
            connection.close()
        } else {
            perform(session.ping())
            pingSentAt = now
        }
    }

    private func rearmTimer() {
        timer.aim(at: connection.isOpen ? deadline() : nil, target: self, loop: connection.loop)
    }

    private func nanos(_ seconds: Double) -> UInt64 { UInt64(max(0, seconds) * 1e9) }

    /// Who closed, from a close frame the session wrote: the answer to the peer's close (it
    /// received one), or ours because the peer broke the protocol (code from our frame; our
    /// frames are unmasked with a payload under 126 bytes, so the code is at bytes 2–3).
    private static func closing(sent frame: [UInt8], peerCode: UInt16?) -> (code: UInt16, by: ClosingSide) {
        if let peerCode { return (peerCode, .client) }
        guard frame.count >= 4, frame[1] & 0x7F >= 2 else { return (WebSocketCloseCode.noStatusReceived, .server) }
        return (UInt16(frame[2]) << 8 | UInt16(frame[3]), .server)
    }
}

/// `/echo`: every message back as it came (text as text, binary as binary).
final class EchoEndpoint: WebSocketEndpoint {
    func opened(_ socket: WebSocketConnection) {}
    func received(_ socket: WebSocketConnection, kind: WebSocketMessageKind, payload: [UInt8]) {
        socket.send(kind, payload)
    }
    func closed(_ socket: WebSocketConnection) {}
}
