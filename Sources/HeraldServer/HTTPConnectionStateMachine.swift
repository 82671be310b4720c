import HeraldLoop
import HeraldWire

/// The HTTP/1.1 side of one connection, as a state machine: bytes, timer ticks and EOF go in,
/// actions come out (`.write`, `.closeAfterFlush`, `.upgrade`); the handler carries them out.
/// Requests are answered strictly one after another, which keeps pipelined responses in order.
struct HTTPConnectionStateMachine {
    enum Action {
        case write([UInt8])
        case writeFile(FileRegion)
        case closeAfterFlush
        /// The 101 was written: hand the connection to a WebSocket, with the bytes already read.
        case upgrade(WebSocketRoute, leftover: ByteBuffer)
    }

    private enum Phase {
        case idle(since: UInt64)
        case head(startedAt: UInt64)
        case body(lastProgress: UInt64)
        case done  // closing or upgraded: nothing more is parsed
    }

    private enum Pending {
        case respond(HTTPResponse)
        case collect([UInt8], (HTTPRequestHead, [UInt8]) -> HTTPResponse)
        case upgrade(WebSocketRoute)
    }

    private let configuration: ServerConfiguration
    private let router: Router
    private let dates: HTTPDateCache
    private var parser: HTTPRequestParser
    private var input = ByteBuffer()
    private var phase: Phase
    private var current: HTTPRequestHead?
    private var pending: Pending?
    /// Set by a graceful shutdown: the next response says `Connection: close`.
    var closeAfterCurrentRequest = false

    init(configuration: ServerConfiguration, router: Router, dates: HTTPDateCache, now: UInt64) {
        self.configuration = configuration
        self.router = router
        self.dates = dates
        parser = HTTPRequestParser(limits: configuration.parserLimits)
        phase = .idle(since: now)
    }

    var isIdle: Bool {
        if case .idle = phase { return input.isEmpty }
        return false
    }

    var isDone: Bool {
        if case .done = phase { return true }
        return false
    }

    var hasBufferedInput: Bool { !input.isEmpty }

    mutating func received(_ bytes: UnsafeRawBufferPointer) {
        guard !isDone else { return }
        input.append(bytes)
    }

    /// Parses buffered bytes until one response has been produced, more bytes are needed, or
    /// the connection is done. The handler calls it again while it returns actions, so it can
    /// stop between pipelined requests when the peer is not reading its responses.
    mutating func step(now: UInt64) -> [Action] {
        var actions: [Action] = []
        while !isDone {
            if case .idle = phase, !input.isEmpty { phase = .head(startedAt: now) }
            let event: HTTPParserEvent?
            do {
                event = try parser.next(&input)
            } catch {
                return fail(status: error.status, code: error.code, message: error.message)
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
                        return finish(response, for: head, forceClose: true)
                    }
                case .readBody(let handler):
                    pending = .collect([], handler)
                    if head.expectsContinue && head.bodyFraming != .none {
                        actions.append(.write(HTTPResponseEncoder.continue100))
                    }
                case .upgrade(let route):
                    pending = .upgrade(route)
                }
            case .body(let piece):
                phase = .body(lastProgress: now)
                if case .collect(var body, let handler) = pending {
                    pending = nil  // keep the array uniquely referenced while appending
                    body.append(contentsOf: piece)
                    pending = .collect(body, handler)
                }
            case .end:
                guard let head = current, let request = pending else { continue }
                current = nil
                pending = nil
                phase = .idle(since: now)
                switch request {
                case .respond(let response):
                    return actions + finish(response, for: head)
                case .collect(let body, let handler):
                    return actions + finish(handler(head, body), for: head)
                case .upgrade(let route):
                    return actions + upgrade(head, route: route)
                }
            }
        }
        return actions
    }

    /// When the current phase runs out (monotonic ns), if it can.
    func deadline() -> UInt64? {
        switch phase {
        case .idle(let since): return since + nanos(configuration.idleTimeout)
        case .head(let started): return started + nanos(configuration.headerTimeout)
        case .body(let last): return last + nanos(configuration.bodyTimeout)
        case .done: return nil
        }
    }

    mutating func timerFired(now: UInt64) -> [Action] {
        guard let deadline = deadline(), now >= deadline else { return [] }
        switch phase {
        case .idle:
            phase = .done
            return [.closeAfterFlush]
        case .head:
            return fail(status: 408, code: "request_timeout", message: "the request headers did not arrive within \(configuration.headerTimeout) s")
        case .body:
            return fail(status: 408, code: "request_timeout", message: "the request body stalled for \(configuration.bodyTimeout) s")
        case .done:
            return []
        }
    }

    /// The peer stopped sending. Whatever was answered is flushed; a half-sent request is dropped.
    mutating func readEOF() -> [Action] {
        guard !isDone else { return [] }
        phase = .done
        return [.closeAfterFlush]
    }

    // MARK: Responses

    private mutating func fail(status: Int, code: String, message: String) -> [Action] {
        let response = HTTPResponse.error(status: status, code: code, message: message)
        return finish(response, for: current, forceClose: true)
    }

    private mutating func finish(_ response: HTTPResponse, for head: HTTPRequestHead?, forceClose: Bool = false) -> [Action] {
        let keepAlive = !forceClose && !closeAfterCurrentRequest && (head?.keepAlive ?? false)
        var actions = ResponseSerializer.serialize(
            response, method: head?.method ?? "GET", version: head?.version ?? .http1_1,
            keepAlive: keepAlive, date: dates.current, server: configuration.serverName)
        if !keepAlive {
            phase = .done
            actions.append(.closeAfterFlush)
        }
        return actions
    }

    private mutating func upgrade(_ head: HTTPRequestHead, route: WebSocketRoute) -> [Action] {
        switch WebSocketHandshake.evaluate(head) {
        case .accept(let responseHeaders):
            var headers = responseHeaders
            headers.add(name: "Date", value: dates.current)
            headers.add(name: "Server", value: configuration.serverName)
            phase = .done
            let leftover = input
            input = ByteBuffer()
            return [.write(HTTPResponseEncoder.encode(HTTPResponseHead(status: 101, headers: headers))),
                    .upgrade(route, leftover: leftover)]
        case .reject(let status, let headers, let code, let message):
            var response = HTTPResponse.error(status: status, code: code, message: message)
            for field in headers { response.headers.replaceOrAdd(name: field.name, value: field.value) }
            return finish(response, for: head)
        }
    }

    private func nanos(_ seconds: Double) -> UInt64 { UInt64(max(0, seconds) * 1e9) }
}

/// Turns an `HTTPResponse` into wire actions: adds `Date`, `Server`, `Content-Length` and
/// `Connection`, and leaves the body out for HEAD and for statuses that have none.
enum ResponseSerializer {
    static func serialize(
        _ response: HTTPResponse, method: String, version: HTTPVersion, keepAlive: Bool, date: String, server: String
    ) -> [HTTPConnectionStateMachine.Action] {
        var headers = response.headers
        headers.replaceOrAdd(name: "Date", value: date)
        headers.replaceOrAdd(name: "Server", value: server)
        // RFC 9110 §8.6: no Content-Length on 1xx/204; on 304 it would have to be the 200's length.
        let bodyless = response.status < 200 || response.status == 204 || response.status == 304
        if !bodyless { headers.replaceOrAdd(name: "Content-Length", value: String(response.body.count)) }
        if !keepAlive {
            headers.replaceOrAdd(name: "Connection", value: "close")
        } else if version == .http1_0 {
            headers.replaceOrAdd(name: "Connection", value: "keep-alive")
        }
        var bytes = HTTPResponseEncoder.encode(HTTPResponseHead(status: response.status, headers: headers))
        guard method != "HEAD" && !bodyless else { return [.write(bytes)] }
        switch response.body {
        case .none:
            return [.write(bytes)]
        case .bytes(let body):
            bytes.append(contentsOf: body)
            return [.write(bytes)]
        case .file(let region):
            return [.write(bytes), .writeFile(region)]
        }
    }
}
