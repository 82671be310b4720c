import HeraldWire

/// One complete data message.
public enum WebSocketMessage: Equatable, Sendable {
    case text(String)
    case binary([UInt8])
}

/// A blocking RFC 6455 client over a `TCPConnection`, built on HeraldWire's frame codec: it
/// masks what it sends (§5.3, a fresh random key per frame), answers pings with pongs, puts
/// fragmented messages back together and checks text is UTF-8 (§8.1).
public final class WebSocketClient {
    public let url: ClientURL
    public let maxMessageBytes: Int
    /// When the last frame (of any kind) arrived, on the monotonic clock: lets a caller notice
    /// a server that went silent (the server pings an idle connection every 30 s by default).
    public private(set) var lastReceivedNanoseconds: UInt64

    private let connection: TCPConnection
    private var buffer: ByteBuffer
    private var decoder: WebSocketFrameDecoder
    private var fragments: [UInt8] = []
    private var fragmentOpcode: WebSocketOpcode?
    private var closeSent = false
    private var closed = false
    private var random = SystemRandomNumberGenerator()

    /// Largest message accepted by default: 16 MiB, the server's own /echo limit; task events
    /// are far smaller (a snapshot of 200 terminal tasks with 4 KiB meta each is under 2 MiB).
    public static let defaultMaxMessageBytes = 16 << 20
    /// Seconds for the opening handshake, and for each send.
    public static let defaultTimeout = 10.0

    private init(url: ClientURL, connection: TCPConnection, leftover: ByteBuffer, maxMessageBytes: Int) {
        self.url = url
        self.connection = connection
        self.buffer = leftover
        self.maxMessageBytes = maxMessageBytes
        self.decoder = WebSocketFrameDecoder(maxFramePayload: maxMessageBytes, requireMasked: false)
        self.lastReceivedNanoseconds = MonotonicTime.nanoseconds()
    }

    deinit { connection.close() }

    /// Connects and performs the opening handshake (RFC 6455 §4.1): a 101 whose
    /// `Sec-WebSocket-Accept` matches our key, or a `handshakeFailed` error that carries the
    /// server's status and answer.
    public static func connect(
        url: ClientURL, headers: HTTPHeaders = HTTPHeaders(), timeout: Double = defaultTimeout,
        maxMessageBytes: Int = defaultMaxMessageBytes, tls: ClientTLS = ClientTLS()
    ) throws(ClientError) -> WebSocketClient {
        let deadline = Deadline.after(seconds: timeout)
        let connection = try TCPConnection.connect(
            host: url.host, port: url.port, origin: url.origin, deadline: deadline, tls: url.scheme.isSecure ? tls : nil)
        var generator = SystemRandomNumberGenerator()
        let nonce = (0..<WebSocketHandshake.keyByteCount).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let key = Base64.encode(nonce)
        var fields = HTTPHeaders()
        fields.add(name: "Upgrade", value: "websocket")
        fields.add(name: "Connection", value: "Upgrade")
        fields.add(name: "Sec-WebSocket-Key", value: key)
        fields.add(name: "Sec-WebSocket-Version", value: WebSocketHandshake.version)
        for field in headers { fields.replaceOrAdd(name: field.name, value: field.value) }
        // Our `Connection: Upgrade` replaces encodeRequest's default `Connection: close`.
        let request = HTTPClient.encodeRequest(method: "GET", url: url, body: nil, headers: fields)
        try connection.write(request, deadline: deadline)

        var parser = HTTPResponseParser(requestMethod: "GET")
        var buffer = ByteBuffer()
        var head: HTTPClientResponseHead?
        var body: [UInt8] = []
        while true {
            if let event = try parser.next(&buffer) {
                switch event {
                case .head(let h):
                    head = h
                    continue
                case .body(let bytes):
                    body.append(contentsOf: bytes.prefix(4096 - body.count))
                    continue
                case .end:
                    break
                }
            } else {
                guard let n = try connection.read(into: &buffer, deadline: deadline) else {
                    throw .timedOut("after \(HTTPClient.formatSeconds(timeout)) waiting for the WebSocket handshake of \(url.origin)")
                }
                if n == 0 {
                    if case .end? = try parser.finish() {} else { continue }
                } else {
                    continue
                }
            }
            break
        }
        guard let head else { throw .handshakeFailed("no response") }
        guard head.status == 101 else {
            let text = String(decoding: body, as: UTF8.self)
            throw .handshakeFailed("HTTP \(head.status)\(text.isEmpty ? "" : ": " + text)")
        }
        // RFC 6455 §4.1, client steps 2–4 of reading the server's handshake.
        guard head.headers.tokens(name: "upgrade").contains("websocket") else {
            throw .handshakeFailed("101 without 'Upgrade: websocket'")
        }
        guard head.headers.tokens(name: "connection").contains("upgrade") else {
            throw .handshakeFailed("101 without 'Connection: Upgrade'")
        }
        guard head.headers["sec-websocket-accept"] == WebSocketHandshake.acceptKey(for: key) else {
            throw .handshakeFailed("Sec-WebSocket-Accept does not match the key we sent")
        }
        return WebSocketClient(url: url, connection: connection, leftover: buffer, maxMessageBytes: maxMessageBytes)
    }

    /// The next data message, or nil when `deadline` passes first (the connection stays usable).
    /// Pings are answered on the way. Throws `webSocketClosed` when the server closes (after
    /// answering its close), `connectionClosed` on EOF without a close frame.
    public func receive(deadline: Deadline = .never) throws(ClientError) -> WebSocketMessage? {
        guard !closed else { throw .webSocketClosed(code: nil, reason: "closed by the client") }
        while true {
            let frame: WebSocketFrame?
            do {
                frame = try decoder.next(&buffer)
            } catch {
                try failConnection(code: error.closeCode, reason: error.reason)
            }
            if let frame {
                lastReceivedNanoseconds = MonotonicTime.nanoseconds()
                if let message = try handle(frame) { return message }
                continue
            }
            guard let n = try connection.read(into: &buffer, deadline: deadline) else { return nil }
            if n == 0 {
                closed = true
                connection.close()
                throw .connectionClosed("by \(url.origin) without a WebSocket close frame")
            }
        }
    }

    public func send(text: String) throws(ClientError) {
        try sendFrame(.text, Array(text.utf8))
    }

    public func send(binary: [UInt8]) throws(ClientError) {
        try sendFrame(.binary, binary)
    }

    /// A ping control frame (≤ 125 bytes, RFC 6455 §5.5); its pong is consumed by `receive`.
    public func ping(_ payload: [UInt8] = []) throws(ClientError) {
        try sendFrame(.ping, Array(payload.prefix(WebSocketFrameDecoder.maxControlPayload)))
    }

    /// The closing handshake (RFC 6455 §7.1.2): sends a close frame, waits up to `wait`
    /// seconds for the server's close, then closes the socket. Never throws: closing is best effort.
    public func close(code: UInt16 = WebSocketCloseCode.normal, reason: String = "", wait: Double = 2) {
        guard !closed else { return }
        if !closeSent {
            closeSent = true
            try? sendFrame(.close, WebSocketFrameEncoder.closePayload(code: code, reason: reason))
        }
        let deadline = Deadline.after(seconds: wait)
        while !closed {
            do {
                guard try receive(deadline: deadline) != nil else { break }
            } catch {
                break
            }
        }
        closed = true
        connection.close()
    }

    // MARK: - Frames

    private func handle(_ frame: WebSocketFrame) throws(ClientError) -> WebSocketMessage? {
        if frame.rsv1 || frame.rsv2 || frame.rsv3 {
            try failConnection(code: WebSocketCloseCode.protocolError, reason: "reserved bits set without an extension")
        }
        switch frame.opcode {
        case .ping:
            // RFC 6455 §5.5.2–3: answer with a pong carrying the same payload.
            if !closeSent { try sendFrame(.pong, frame.payload) }
            return nil
        case .pong:
            return nil
        case .close:
            let (code, reason) = Self.parseClose(frame.payload)
            if !closeSent {
                closeSent = true
                try? sendFrame(.close, WebSocketFrameEncoder.closePayload(code: code ?? WebSocketCloseCode.normal, reason: ""))
            }
            closed = true
            connection.close()
            throw .webSocketClosed(code: code, reason: reason)
        case .text, .binary:
            guard fragmentOpcode == nil else {
                try failConnection(code: WebSocketCloseCode.protocolError, reason: "a new message inside a fragmented one")
            }
            if frame.fin { return try message(frame.opcode, frame.payload) }
            fragmentOpcode = frame.opcode
            fragments = frame.payload
            return nil
        case .continuation:
            guard let opcode = fragmentOpcode else {
                try failConnection(code: WebSocketCloseCode.protocolError, reason: "a continuation frame without a message")
            }
            guard fragments.count + frame.payload.count <= maxMessageBytes else {
                try failConnection(code: WebSocketCloseCode.messageTooBig, reason: "message larger than \(maxMessageBytes) bytes")
            }
            fragments.append(contentsOf: frame.payload)
            guard frame.fin else { return nil }
            let payload = fragments
            fragments = []
            fragmentOpcode = nil
            return try message(opcode, payload)
        }
    }

    private func message(_ opcode: WebSocketOpcode, _ payload: [UInt8]) throws(ClientError) -> WebSocketMessage {
        guard opcode == .text else { return .binary(payload) }
        guard let text = String(validating: payload, as: UTF8.self) else {
            // RFC 6455 §8.1: a text message that is not UTF-8 fails the connection with 1007.
            try failConnection(code: WebSocketCloseCode.invalidPayload, reason: "text message is not UTF-8")
        }
        return .text(text)
    }

    /// `code` and reason of a close payload; nil code when the payload is empty (1005).
    static func parseClose(_ payload: [UInt8]) -> (UInt16?, String) {
        guard payload.count >= 2 else { return (nil, "") }
        let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
        return (code, String(decoding: payload[2...], as: UTF8.self))
    }

    /// RFC 6455 §7.1.7: send a close with `code`, drop the connection, and throw.
    private func failConnection(code: UInt16, reason: String) throws(ClientError) -> Never {
        if !closeSent {
            closeSent = true
            try? sendFrame(.close, WebSocketFrameEncoder.closePayload(code: code, reason: reason))
        }
        closed = true
        connection.close()
        throw .webSocketProtocol(code: code, reason: reason)
    }

    private func sendFrame(_ opcode: WebSocketOpcode, _ payload: [UInt8]) throws(ClientError) {
        guard !closed else { throw .webSocketClosed(code: nil, reason: "closed") }
        // RFC 6455 §5.3: a fresh, unpredictable masking key for every frame.
        let key = (0..<4).map { _ in UInt8.random(in: 0...255, using: &random) }
        let bytes = WebSocketFrameEncoder.encode(opcode: opcode, payload: payload, maskKey: key)
        try connection.write(bytes, deadline: .after(seconds: Self.defaultTimeout))
    }
}
