import Testing
@testable import HeraldWire

@Suite struct WebSocketSessionCloseTests {
    private func closeReply(_ payload: [UInt8]) -> [WebSocketAction] {
        [.send(WebSocketFrameEncoder.encode(opcode: .close, payload: payload)), .closeTransport]
    }

    @Test func closeWithCodeIsAnsweredWithTheSameCode() {
        let actions = sessionActions(ClientFrames.close(code: 1000, reason: Array("bye".utf8)))
        #expect(actions == closeReply([0x03, 0xE8]))
    }

    @Test func emptyCloseIsAnsweredWithAnEmptyClose() {
        #expect(sessionActions(ClientFrames.frame(.close, [])) == closeReply([]))
    }

    @Test(arguments: [UInt16(1000), 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999])
    func validCloseCodesAreEchoed(code: UInt16) {
        #expect(WebSocketCloseCode.isValidReceived(code))
        #expect(sessionActions(ClientFrames.close(code: code)) == closeReply([UInt8(code >> 8), UInt8(code & 0xFF)]))
    }

    @Test(arguments: [UInt16(0), 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
    func closeWithInvalidCodeIsProtocolError(code: UInt16) {
        #expect(!WebSocketCloseCode.isValidReceived(code))
        #expect(failure(1002)(sessionActions(ClientFrames.close(code: code))))
    }

    @Test func closeWithOneBytePayloadIsProtocolError() {
        #expect(failure(1002)(sessionActions(ClientFrames.frame(.close, [0x03]))))
    }

    @Test func closeWithInvalidUTF8ReasonIsInvalidPayload() {
        #expect(failure(1007)(sessionActions(ClientFrames.close(code: 1000, reason: [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED, 0xA0, 0x80, 0x65, 0x64]))))
        // A reason ending inside a sequence is just as invalid.
        #expect(failure(1007)(sessionActions(ClientFrames.close(code: 1000, reason: [0x61, 0xE2, 0x82]))))
    }

    @Test func closeWithLongestReasonIsEchoedAndOneByteMoreIsProtocolError() {
        let reason123 = Array(repeating: UInt8(ascii: "*"), count: 123)
        #expect(sessionActions(ClientFrames.close(code: 1000, reason: reason123)) == closeReply([0x03, 0xE8]))
        #expect(failure(1002)(sessionActions(ClientFrames.close(code: 1000, reason: reason123 + [0x2A]))))
    }

    @Test func closeInsideFragmentedMessageIsAnsweredNormally() {
        // Autobahn 7.1.5: the unfinished message is dropped, the close is answered.
        let bytes = ClientFrames.frame(.text, "frag", fin: false) + ClientFrames.close(code: 1000)
            + ClientFrames.frame(.continuation, "ment")
        #expect(sessionActions(bytes) == closeReply([0x03, 0xE8]))
    }

    @Test func nothingIsDeliveredOrAnsweredAfterTheClose() {
        // Autobahn 7.1.2–7.1.4: close, then another close, a ping, a message.
        let bytes = ClientFrames.close(code: 1000) + ClientFrames.close(code: 1000)
            + ClientFrames.frame(.ping, "p") + ClientFrames.frame(.text, "late")
        #expect(sessionActions(bytes) == closeReply([0x03, 0xE8]))
    }

    @Test func messageBeforeCloseIsDelivered() {
        let bytes = ClientFrames.frame(.text, "Hello") + ClientFrames.close(code: 1001)
        #expect(sessionActions(bytes) == [text("Hello")] + closeReply([0x03, 0xE9]))
    }

    @Test func serverInitiatedCloseWaitsForThePeersClose() {
        var session = WebSocketSession(maxMessageSize: 1024)
        #expect(session.close(code: 1008, reason: "too slow") == [.send(WebSocketFrameEncoder.closeFrame(code: 1008, reason: "too slow"))])
        #expect(session.state == .closing)
        #expect(!session.canSend)
        #expect(session.close(code: 1000, reason: "again").isEmpty)
        #expect(session.ping().isEmpty)

        // Data and pings that were in flight are dropped, not answered.
        var input = ByteBuffer(
            ClientFrames.frame(.text, "late") + ClientFrames.frame(.ping, "p") + ClientFrames.frame(.binary, [1], fin: false)
                + ClientFrames.frame(.continuation, [2]))
        #expect(session.receive(&input).isEmpty)
        #expect(session.state == .closing)

        input.append(contentsOf: ClientFrames.close(code: 1008))
        #expect(session.receive(&input) == [.closeTransport])
        #expect(session.state == .closed)
    }

    @Test func peersCloseReplyIsAcceptedWhateverItCarries() {
        for reply in [ClientFrames.frame(.close, []), ClientFrames.close(code: 1000), ClientFrames.frame(.close, [0x03])] {
            var session = WebSocketSession(maxMessageSize: 1024)
            _ = session.close(code: 1001, reason: "shutting down")
            var input = ByteBuffer(reply)
            #expect(session.receive(&input) == [.closeTransport])
        }
    }

    @Test func protocolErrorWhileClosingOnlyClosesTheTransport() {
        var session = WebSocketSession(maxMessageSize: 1024)
        _ = session.close(code: 1000, reason: "")
        var input = ByteBuffer(ClientFrames.raw(byte0: 0x81, payload: [0x61], masked: false))
        #expect(session.receive(&input) == [.closeTransport])
        #expect(session.state == .closed)
    }

    @Test func serverCloseDropsAHalfReceivedMessage() {
        var session = WebSocketSession(maxMessageSize: 1024)
        var input = ByteBuffer(ClientFrames.frame(.text, "half", fin: false))
        #expect(session.receive(&input).isEmpty)
        _ = session.close(code: 1001, reason: "")
        input.append(contentsOf: ClientFrames.frame(.continuation, "done") + ClientFrames.frame(.close, []))
        #expect(session.receive(&input) == [.closeTransport])
    }

    @Test func failureCloseFrameCarriesAShortReason() {
        let actions = sessionActions(ClientFrames.frame(.continuation, "x"))
        guard case .send(let frame) = actions.first else { Issue.record("no close frame"); return }
        #expect(frame[0] == 0x88)
        #expect(Int(frame[1]) == frame.count - 2)
        #expect(frame.count - 2 <= 125)
        #expect(String(validating: frame[4...], as: UTF8.self)?.isEmpty == false)
    }
}
