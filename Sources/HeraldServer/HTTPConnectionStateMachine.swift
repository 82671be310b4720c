import HeraldLoop
import HeraldWire

/// The HTTP/1.1 side of one connection, as a state machine: bytes, timer ticks and EOF go in,
/// actions come out (`.write`, `.closeAfterFlush`, `.upgrade`, `.dispatch`); the handler
/// carries them out. Pipelined requests may be answered asynchronously and concurrently (up to
/// `maxInFlight`: a worker's pipelined progress reports reach the actor in one batch), but
/// responses always leave in request order.
struct HTTPConnectionStateMachine {
    enum Action {
        case write([UInt8])
        case writeFile(FileRegion)
        case closeAfterFlush
        /// The 101 was written: hand the connection to a WebSocket, with the bytes already read.
        case upgrade(WebSocketRoute, head: HTTPRequestHead, leftover: ByteBuffer)
        /// Start an asynchronous handler; its answer comes back through `respond(slot:_:now:)`.
        case dispatch(AsyncHandler)
        /// A response was queued: its access line (only with access logging on). The duration
        /// is up to `now`, the turn's time; the handler may measure it again with a finer clock.
        case accessLog(HTTPAccessRecord, startedAt: UInt64)
    }

    /// A request handed to an asynchronous handler, waiting for `respond`.
    struct AsyncHandler {
        let slot: UInt64
        let head: HTTPRequestHead
        let body: [UInt8]
        let run: (HTTPRequestHead, [UInt8], @escaping (HTTPResponse) -> Void) -> Void
    }

    /// Requests parsed ahead while earlier ones wait for their answers: enough to batch a
    /// pipelining client's requests, few enough that one connection cannot queue much work.
    static let maxInFlight = 16

    private enum Phase {
        case idle(since: UInt64)
        case head(startedAt: UInt64)
        case body(lastProgress: UInt64)
        case done  // nothing more is parsed (closing, or an upgrade is next)
    }

    private enum Pending {
        case respond(HTTPResponse)
        case collect([UInt8], (HTTPRequestHead, [UInt8]) -> HTTPResponse)
        case collectAsync([UInt8], (HTTPRequestHead, [UInt8], @escaping (HTTPResponse) -> Void) -> Void)
        case upgrade(WebSocketRoute)
    }

    /// A request whose response has not been written yet, in request order.
    private struct Slot {
        let id: UInt64
        let head: HTTPRequestHead?
        var response: HTTPResponse?
        /// Whether the connection may stay open after this response: not forced closed (an
        /// error, a body left unread) and asked for by the request (read once per request).
        let keepAlive: Bool
        /// When the request's first byte was parsed (monotonic ns), for the access line.
        let startedAt: UInt64
    }

    private let settings: HTTPConnectionSettings
    private let router: Router
    private let dates: HTTPDateCache
    private var parser: HTTPRequestParser
    private var input = ByteBuffer()
    private var phase: Phase
    private var current: HTTPRequestHead?
    private var pending: Pending?
    private var slots: [Slot] = []
    private var nextSlot: UInt64 = 0
    /// When the request being parsed began: its first byte, or its head's turn when pipelined.
    private var requestStartedAt: UInt64
    /// An upgrade that must wait until the responses before it are written.
    private var parkedUpgrade: (HTTPRequestHead, WebSocketRoute, acceptKey: String)?
    private var closed = false
    /// Set by a graceful shutdown (or a half-close): close once the outstanding answers are out.
    var closeAfterCurrentRequest = false {
        didSet { if closeAfterCurrentRequest, !slots.isEmpty { phase = .done } }
    }

    init(settings: HTTPConnectionSettings, router: Router, dates: HTTPDateCache, now: UInt64) {
        self.settings = settings
        self.router = router
        self.dates = dates
        parser = HTTPRequestParser(limits: settings.parserLimits)
        phase = .idle(since: now)
        requestStartedAt = now
    }

    init(configuration: ServerConfiguration, router: Router, dates: HTTPDateCache, now: UInt64) {
        self.init(settings: HTTPConnectionSettings(configuration), router: router, dates: dates, now: now)
    }

    var isIdle: Bool {
        if case .idle = phase { return input.isEmpty && slots.isEmpty }
        return false
    }

    var isDone: Bool { closed }

    private var parsingStopped: Bool {
        if case .done = phase { return true }
        return closed
    }

    var hasBufferedInput: Bool { !input.isEmpty }

    mutating func received(_ bytes: UnsafeRawBufferPointer) {
        guard !parsingStopped else { return }
        input.append(bytes)
    }

    /// Parses buffered bytes until one response or dispatch has been produced, more bytes are
    /// needed, or parsing has to stop. The handler calls it again while it returns actions, so
    /// it can stop between pipelined requests when the peer is not reading its responses.
    mutating func step(now: UInt64) -> [Action] {
        var actions: [Action] = []
        step(now: now, into: &actions)
        return actions
    }

    /// `step(now:)` appending to the caller's array, which it can reuse from request to
    /// request (one array per request, and its concatenations, showed in S2's profile).
    mutating func step(now: UInt64, into actions: inout [Action]) {
        while !parsingStopped && slots.count < Self.maxInFlight {
            if case .idle = phase, !input.isEmpty {
                phase = .head(startedAt: now)
                requestStartedAt = now
            }
            let event: HTTPParserEvent?
            do {
                event = try parser.next(&input)
            } catch {
                fail(status: error.status, code: error.code, message: error.message, now: now, into: &actions)
                return
            }
            guard let event else { break }
            switch event {
            case .head(let head):
                current = head
                if case .none = head.bodyFraming {} else { phase = .body(lastProgress: now) }
                switch router.route(head) {
                case .respond(let response):
                    pending = .respond(response)
                    // The client waits for our go-ahead before sending a body we don't want:
                    // answer now and close, since we can't know whether the body will follow.
                    if head.expectsContinue && head.bodyFraming != .none {
                        finish(response, for: head, forceClose: true, now: now, into: &actions)
                        return
                    }
                case .readBody(let handler):
                    pending = .collect([], handler)
                    if head.expectsContinue && head.bodyFraming != .none {
                        actions.append(.write(HTTPResponseEncoder.continue100))
                    }
                case .readBodyAsync(let handler):
                    pending = .collectAsync([], handler)
                    if head.expectsContinue && head.bodyFraming != .none {
                        actions.append(.write(HTTPResponseEncoder.continue100))
                    }
                case .upgrade(let route):
                    pending = .upgrade(route)
                }
            case .body(let piece):
                phase = .body(lastProgress: now)
                switch pending {
                case .collect(var body, let handler):
                    pending = nil  // keep the array uniquely referenced while appending
                    if body.isEmpty { body = piece } else { body.append(contentsOf: piece) }  // one piece: no copy
                    pending = .collect(body, handler)
                case .collectAsync(var body, let handler):
                    pending = nil
                    if body.isEmpty { body = piece } else { body.append(contentsOf: piece) }
                    pending = .collectAsync(body, handler)
                default:
                    break
                }
            case .end:
                guard let head = current, let request = pending else { continue }
                current = nil
                pending = nil
                phase = .idle(since: now)
                // Nothing after a request that ends the connection is read.
                let keepAlive = head.keepAlive
                if !keepAlive { phase = .done }
                switch request {
                case .respond(let response):
                    finish(response, for: head, headKeepAlive: keepAlive, now: now, into: &actions)
                    return
                case .collect(let body, let handler):
                    finish(handler(head, body), for: head, headKeepAlive: keepAlive, now: now, into: &actions)
                    return
                case .collectAsync(let body, let handler):
                    let id = nextSlot
                    nextSlot += 1
                    slots.append(Slot(id: id, head: head, response: nil, keepAlive: keepAlive, startedAt: requestStartedAt))
                    actions.append(.dispatch(AsyncHandler(slot: id, head: head, body: body, run: handler)))
                    return
                case .upgrade(let route):
                    // Evaluated once: the accept key (a SHA-1) was computed twice per upgrade.
                    let acceptKey: String
                    switch WebSocketHandshake.check(head) {
                    case .accept(let key):
                        acceptKey = key
                    case .reject(let status, let headers, let code, let message):
                        let refusal = Self.handshakeRefusal(status: status, headers: headers, code: code, message: message)
                        finish(refusal, for: head, now: now, into: &actions)  // still plain HTTP: go on parsing
                        return
                    }
                    phase = .done
                    guard slots.isEmpty else {
                        parkedUpgrade = (head, route, acceptKey)
                        return
                    }
                    upgrade(head, route: route, acceptKey: acceptKey, into: &actions)
                    return
                }
            }
        }
    }

    /// An asynchronous handler's answer for `slot`; written when every earlier one is.
    mutating func respond(slot: UInt64, _ response: HTTPResponse, now: UInt64) -> [Action] {
        var actions: [Action] = []
        respond(slot: slot, response, now: now, into: &actions)
        return actions
    }

    mutating func respond(slot: UInt64, _ response: HTTPResponse, now: UInt64, into actions: inout [Action]) {
        guard !closed, let index = slots.firstIndex(where: { $0.id == slot }) else { return }
        slots[index].response = response
        drain(now: now, into: &actions)
        if slots.isEmpty, !closed {
            if let (head, route, acceptKey) = parkedUpgrade {
                parkedUpgrade = nil
                upgrade(head, route: route, acceptKey: acceptKey, into: &actions)
            } else if case .done = phase {
                // Stopped parsing for a close (shutdown, half-close, Connection: close): done now.
                closed = true
                actions.append(.closeAfterFlush)
            } else if input.isEmpty, case .idle = phase {
                phase = .idle(since: now)
            }
        }
    }

    /// When the current phase runs out (monotonic ns), if it can. None while answers are
    /// awaited: the actor, not the client, is what we wait for then.
    func deadline() -> UInt64? {
        guard !closed else { return nil }
        switch phase {
        case .idle(let since): return slots.isEmpty ? since + nanos(settings.idleTimeout) : nil
        case .head(let started): return started + nanos(settings.headerTimeout)
        case .body(let last): return last + nanos(settings.bodyTimeout)
        case .done: return nil
        }
    }

    mutating func timerFired(now: UInt64) -> [Action] {
        guard let deadline = deadline(), now >= deadline else { return [] }
        switch phase {
        case .idle:
            phase = .done
            closed = true
            return [.closeAfterFlush]
        case .head:
            var actions: [Action] = []
            fail(status: 408, code: "request_timeout", message: "the request headers did not arrive within \(settings.headerTimeout) s", now: now, into: &actions)
            return actions
        case .body:
            var actions: [Action] = []
            fail(status: 408, code: "request_timeout", message: "the request body stalled for \(settings.bodyTimeout) s", now: now, into: &actions)
            return actions
        case .done:
            return []
        }
    }

    /// The peer stopped sending. Answers being prepared are still written; a half-sent request
    /// is dropped.
    mutating func readEOF() -> [Action] {
        guard !closed else { return [] }
        phase = .done
        guard slots.isEmpty else { return [] }
        closed = true
        return [.closeAfterFlush]
    }

    // MARK: Responses

    private mutating func fail(status: Int, code: String, message: String, now: UInt64, into actions: inout [Action]) {
        let response = HTTPResponse.error(status: status, code: code, message: message)
        finish(response, for: current, forceClose: true, now: now, into: &actions)
    }

    /// Queues a ready response behind the ones still awaited and writes what can be written.
    private mutating func finish(
        _ response: HTTPResponse, for head: HTTPRequestHead?, forceClose: Bool = false, headKeepAlive: Bool? = nil, now: UInt64,
        into actions: inout [Action]
    ) {
        if forceClose { phase = .done }
        let keepAlive = !forceClose && (headKeepAlive ?? head?.keepAlive ?? false)
        let slot = Slot(id: nextSlot, head: head, response: response, keepAlive: keepAlive, startedAt: requestStartedAt)
        nextSlot += 1
        guard slots.isEmpty, !closed else {
            slots.append(slot)
            drain(now: now, into: &actions)
            return
        }
        // Nothing awaited before it (the usual case): written now, never queued.
        write(slot, response, isLast: true, now: now, into: &actions)
    }

    /// Writes every response at the front of the queue that is ready, in order.
    private mutating func drain(now: UInt64, into actions: inout [Action]) {
        while let first = slots.first, let response = first.response, !closed {
            slots.removeFirst()
            write(first, response, isLast: slots.isEmpty, now: now, into: &actions)
        }
    }

    /// Serializes one slot's response (the first unwritten one) and its access line.
    private mutating func write(_ slot: Slot, _ response: HTTPResponse, isLast: Bool, now: UInt64, into actions: inout [Action]) {
        let head = slot.head
        let keepAlive = slot.keepAlive && !(closeAfterCurrentRequest && isLast)
        var response = response
        if let head { settings.crossOrigin.decorate(&response, for: head) }
        let firstWritten = actions.count
        ResponseSerializer.serialize(
            response, method: head?.method ?? "GET", version: head?.version ?? .http1_1,
            keepAlive: keepAlive, dates: dates, server: settings.serverName, into: &actions)
        if settings.accessLog {
            let written = Array(actions[firstWritten...])
            actions.append(.accessLog(Self.accessRecord(slot, response.status, written, now: now), startedAt: slot.startedAt))
        }
        if !keepAlive {
            closed = true
            phase = .done
            slots.removeAll()
            actions.append(.closeAfterFlush)
        }
    }

    /// The 101 and the hand-over, for a handshake `WebSocketHandshake.check` accepted: the
    /// 101's bytes written directly (`WebSocketHandshake.switchingProtocols`, the same bytes as
    /// the general encoder makes of the header fields), appended to the caller's actions.
    private mutating func upgrade(_ head: HTTPRequestHead, route: WebSocketRoute, acceptKey: String, into actions: inout [Action]) {
        var route = route
        var extensions: String?
        if settings.deflate, let deflate = PerMessageDeflateOffer.negotiate(head.headers.values(name: "sec-websocket-extensions")) {
            extensions = deflate.response
            route.deflate = deflate
        }
        closed = true
        // Usually nothing follows the upgrade request: hand over an empty buffer, not the read
        // buffer's storage (a few hundred bytes every idle WebSocket would keep, S3).
        let leftover = input.isEmpty ? ByteBuffer() : input
        input = ByteBuffer()
        actions.append(.write(WebSocketHandshake.switchingProtocols(
            acceptKey: acceptKey, extensions: extensions, date: dates.current, server: settings.serverName)))
        actions.append(.upgrade(route, head: head, leftover: leftover))
    }

    /// The error response for a bad WebSocket handshake (400, or 426 with the version we speak).
    private static func handshakeRefusal(status: Int, headers: HTTPHeaders, code: String, message: String) -> HTTPResponse {
        var response = HTTPResponse.error(status: status, code: code, message: message)
        for field in headers { response.headers.replaceOrAdd(name: field.name, value: field.value) }
        return response
    }

    private func nanos(_ seconds: Double) -> UInt64 { UInt64(max(0, seconds) * 1e9) }

    /// What the access line of a written response says; built only with access logging on.
    private static func accessRecord(_ slot: Slot, _ status: Int, _ written: [Action], now: UInt64) -> HTTPAccessRecord {
        var bytes = 0
        for action in written {
            switch action {
            case .write(let chunk): bytes += chunk.count
            case .writeFile(let region): bytes += region.length
            default: break
            }
        }
        return HTTPAccessRecord(
            method: slot.head?.method, target: slot.head?.target, status: status, bytes: bytes,
            durationNanos: now >= slot.startedAt ? now - slot.startedAt : 0,
            userAgent: slot.head?.headers["user-agent"], requestID: slot.head?.headers["x-request-id"])
    }
}
