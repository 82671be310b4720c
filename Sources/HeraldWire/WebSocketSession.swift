public enum WebSocketMessageKind: Sendable, Equatable {
    case text
    case binary
}

/// What the connection must do after the session looked at some bytes, in order.
public enum WebSocketAction: Equatable, Sendable {
    /// A complete message; a text one is valid UTF-8.
    case deliver(kind: WebSocketMessageKind, payload: [UInt8])
    /// An encoded frame for the wire (a pong, a close).
    case send([UInt8])
    /// The peer answered a ping (or sent an unsolicited pong): it is alive.
    case pongReceived
    /// Flush what was queued, then close the TCP connection.
    case closeTransport
}

/// The server side of an RFC 6455 connection after the handshake, as a state machine that
/// turns received bytes into actions (design.md: connection logic returns actions). No I/O and
/// no clock: the caller sends, delivers, and times out a close that is never answered.
///
/// It reassembles fragmented messages (§5.4), validates text as it streams in and fails at
/// the first invalid byte (§8.1), enforces a message size limit, answers pings (§5.5.2) and
/// runs the closing handshake (§7); any violation fails the connection with a close frame
/// carrying the right code (§7.1.7).
public struct WebSocketSession: Sendable {
    public enum State: Sendable, Equatable {
        /// Messages flow both ways.
        case open
        /// We sent a close and wait for the peer's (RFC 6455 §7.1.2); data from the peer is
        /// dropped.
        case closing
        /// Both closes were exchanged, or the connection was failed: nothing more happens.
        case closed
    }

    /// Largest message accepted, the sum of its fragments; more fails the connection with 1009.
    public let maxMessageSize: Int
    public internal(set) var state: State = .open
    /// The code of the peer's close frame when the peer closed first (1005 when it had none);
    /// nil when we closed first or no close frame came.
    public internal(set) var receivedCloseCode: UInt16?

    var decoder: WebSocketFrameDecoder
    /// The fragmented message being reassembled (RFC 6455 §5.4); nil between messages.
    var message: PartialMessage?
    /// Validates the current text message, across fragments and partial frames.
    var utf8 = UTF8StreamValidator()
    /// Bytes of the pending (incomplete) frame's payload that `utf8` has already seen.
    var validatedPrefix = 0

    struct PartialMessage: Sendable {
        var kind: WebSocketMessageKind
        var bytes: [UInt8]
        /// Its first frame had RSV1 (RFC 7692 §6.1): the bytes are DEFLATE until the last frame.
        var compressed = false
    }

    /// `maxMessageSize` is the caller's policy (e.g. 1 MiB for subscribers, 16 MiB for the
    /// echo endpoint, which Autobahn 9.* needs). A single frame can't be larger than a message,
    /// so it is also the decoder's frame limit.
    ///
    /// `compression`: permessage-deflate was negotiated (RFC 7692), without client context
    /// takeover: a compressed message is inflated on its own once whole, held to
    /// `maxMessageSize` after inflating (a bomb fails with 1009), its text validated then.
    public init(maxMessageSize: Int, compression: Bool = false) {
        precondition(maxMessageSize >= 0)
        self.maxMessageSize = maxMessageSize
        decoder = WebSocketFrameDecoder(maxFramePayload: maxMessageSize, requireMasked: true)
        decoder.allowsCompressedFrames = compression
    }

    /// True while the server may still send messages.
    public var canSend: Bool { state == .open }

    /// Consumes every complete frame in `input` and returns what to do about them. Bytes of
    /// an incomplete frame stay in `input` (a text frame's arrived part is already checked).
    public mutating func receive(_ input: inout ByteBuffer) -> [WebSocketAction] {
        var actions: [WebSocketAction] = []
        while state != .closed {
            let frame: WebSocketFrame?
            do {
                frame = try decoder.next(&input)
            } catch {
                fail(error, into: &actions)
                break
            }
            guard let frame else {
                checkPendingFrame(input, into: &actions)
                break
            }
            handle(frame, into: &actions)
        }
        // Nothing the peer sends after the end matters (RFC 6455 §5.5.1: "after sending a
        // Close frame, the endpoint MUST NOT send any further data frames").
        if state == .closed { input.clear() }
        return actions
    }

    /// A ping for the liveness check (RFC 6455 §5.5.2); the payload is cut to 125 bytes.
    public mutating func ping(_ payload: [UInt8] = []) -> [WebSocketAction] {
        guard state == .open else { return [] }
        let body = payload.prefix(WebSocketFrameDecoder.maxControlPayload)
        return [.send(WebSocketFrameEncoder.encode(opcode: .ping, payload: body))]
    }

    // MARK: - Frames

    private mutating func handle(_ frame: WebSocketFrame, into actions: inout [WebSocketAction]) {
        switch frame.opcode {
        case .ping:
            // RFC 6455 §5.5.3: the pong carries the ping's payload. Once closing we send
            // nothing but what the closing handshake needs.
            if state == .open {
                actions.append(.send(WebSocketFrameEncoder.encode(opcode: .pong, payload: frame.payload)))
            }
        case .pong:
            // §5.5.3: an unsolicited pong is allowed and needs no answer.
            if state == .open { actions.append(.pongReceived) }
        case .close:
            receiveClose(frame.payload, into: &actions)
        case .text, .binary, .continuation:
            if state == .open { receiveData(frame, into: &actions) }
        }
    }

    private mutating func receiveData(_ frame: WebSocketFrame, into actions: inout [WebSocketAction]) {
        if let error = sequenceError(opcode: frame.opcode, payloadLength: frame.payload.count) {
            return fail(error, into: &actions)
        }
        let kind: WebSocketMessageKind
        switch frame.opcode {
        case .text: kind = .text
        case .binary: kind = .binary
        default: kind = message!.kind  // a continuation; sequenceError checked there is one
        }
        // The decoder let RSV1 through only on a first frame with deflate negotiated.
        let compressed = frame.opcode == .continuation ? message!.compressed : frame.rsv1
        if kind == .text && !compressed {
            let alreadySeen = validatedPrefix
            validatedPrefix = 0
            if !utf8.feed(frame.payload[alreadySeen...]) {
                return fail(.invalidPayload("invalid UTF-8 in text message"), into: &actions)
            }
            if frame.fin && !utf8.isAtBoundary {
                return fail(.invalidPayload("text message ends inside a UTF-8 sequence"), into: &actions)
            }
        }
        guard frame.fin else {
            if message == nil {
                message = PartialMessage(kind: kind, bytes: frame.payload, compressed: compressed)
            } else {
                message!.bytes.append(contentsOf: frame.payload)
            }
            return
        }
        var payload = frame.payload
        if var partial = message.take() {
            partial.bytes.append(contentsOf: payload)
            payload = partial.bytes
        }
        utf8.reset()
        if compressed {
            do {
                payload = try PerMessageDeflate.inflate(message: payload, cap: maxMessageSize)
            } catch {
                return fail(error, into: &actions)
            }
            var text = UTF8StreamValidator()
            if kind == .text && !(text.feed(payload) && text.isAtBoundary) {
                return fail(.invalidPayload("invalid UTF-8 in text message"), into: &actions)
            }
        }
        actions.append(.deliver(kind: kind, payload: payload))
    }

    /// The fragmentation and size rules for a data frame (RFC 6455 §5.4), checked from its
    /// header alone so they also apply while the payload is still arriving.
    private func sequenceError(opcode: WebSocketOpcode, payloadLength: Int) -> WebSocketProtocolError? {
        let soFar: Int
        if opcode == .continuation {
            guard let message else { return .protocolError("continuation frame without a message to continue") }
            soFar = message.bytes.count
        } else {
            if message != nil { return .protocolError("new message inside a fragmented message") }
            soFar = 0
        }
        if payloadLength > maxMessageSize - soFar {
            return .messageTooBig("message exceeds \(maxMessageSize) bytes")
        }
        return nil
    }

    /// While a data frame is still arriving: apply the sequence and size rules now, and
    /// validate the text that has arrived, so an invalid byte fails the connection at once
    /// instead of after the rest of a large frame (Autobahn 6.4.3–6.4.4).
    private mutating func checkPendingFrame(_ input: ByteBuffer, into actions: inout [WebSocketAction]) {
        guard state == .open, let header = decoder.pendingHeader, !header.opcode.isControl else { return }
        if let error = sequenceError(opcode: header.opcode, payloadLength: header.payloadLength) {
            return fail(error, into: &actions)
        }
        let isText = header.opcode == .text || (header.opcode == .continuation && message?.kind == .text)
        // Compressed text can only be checked once inflated, at the end of the message.
        let compressed = header.opcode == .continuation ? message?.compressed == true : header.rsv1
        guard isText, !compressed, decoder.pendingPayloadBytes(in: input) > validatedPrefix else { return }
        let arrived = decoder.partialPayload(in: input, from: validatedPrefix)
        validatedPrefix += arrived.count
        if !utf8.feed(arrived) {
            fail(.invalidPayload("invalid UTF-8 in text message"), into: &actions)
        }
    }
}

extension Optional {
    /// Returns the value and leaves nil behind, so the value can be mutated without a copy.
    fileprivate mutating func take() -> Wrapped? {
        defer { self = nil }
        return self
    }
}
