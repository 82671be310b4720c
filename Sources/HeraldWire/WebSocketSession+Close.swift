extension WebSocketSession {
    /// Starts the closing handshake from our side (RFC 6455 §7.1.2). The state becomes
    /// `.closing`; the peer's close then yields `.closeTransport`. The caller times out a
    /// peer that never answers and closes the TCP connection itself.
    public mutating func close(code: UInt16, reason: String) -> [WebSocketAction] {
        guard state == .open else { return [] }
        state = .closing
        discardMessage()
        return [.send(WebSocketFrameEncoder.closeFrame(code: code, reason: reason))]
    }

    /// The peer's close frame (RFC 6455 §5.5.1, §7.1.5). Its code and reason are checked; a
    /// valid one is answered with a close echoing the code, then the connection ends.
    mutating func receiveClose(_ payload: [UInt8], into actions: inout [WebSocketAction]) {
        guard state == .open else {
            // The answer to our close: the handshake is complete (§7.1.2), whatever it says.
            state = .closed
            actions.append(.closeTransport)
            return
        }
        let reply: [UInt8]
        switch payload.count {
        case 0:
            // §5.5.1: the body is optional; answer with an empty close too (1005 is "none").
            reply = []
            receivedCloseCode = WebSocketCloseCode.noStatusReceived
        case 1:
            return fail(.protocolError("close frame with a 1-byte payload"), into: &actions)
        default:
            let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
            guard WebSocketCloseCode.isValidReceived(code) else {
                return fail(.protocolError("invalid close code \(code)"), into: &actions)
            }
            // §5.5.1: the reason is UTF-8 (and a whole one; §8.1 applies).
            var reason = UTF8StreamValidator()
            guard reason.feed(payload[2...]), reason.isAtBoundary else {
                return fail(.invalidPayload("close reason is not valid UTF-8"), into: &actions)
            }
            reply = [payload[0], payload[1]]
            receivedCloseCode = code
        }
        // §5.5.1: a close in the middle of a fragmented message still ends it (Autobahn 7.1.5).
        discardMessage()
        state = .closed
        actions.append(.send(WebSocketFrameEncoder.encode(opcode: .close, payload: reply)))
        actions.append(.closeTransport)
    }

    /// Fails the connection (RFC 6455 §7.1.7): a close frame with the error's code, unless we
    /// already sent one, then the end of the TCP connection.
    mutating func fail(_ error: WebSocketProtocolError, into actions: inout [WebSocketAction]) {
        if state == .open {
            actions.append(.send(WebSocketFrameEncoder.closeFrame(code: error.closeCode, reason: error.reason)))
        }
        state = .closed
        discardMessage()
        actions.append(.closeTransport)
    }

    private mutating func discardMessage() {
        message = nil
        utf8.reset()
        validatedPrefix = 0
    }
}
