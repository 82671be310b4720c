import HeraldTestSupport
import Testing
@testable import HeraldWire

/// Runs a fresh session over `bytes` fed whole, byte by byte and in seeded random splits;
/// every split must give the same actions, which are returned.
func sessionActions(
    _ bytes: [UInt8], maxMessageSize: Int = 1 << 20, compression: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
) -> [WebSocketAction] {
    var first: [WebSocketAction]?
    for (label, chunks) in FeedSplits.all(bytes) {
        var session = WebSocketSession(maxMessageSize: maxMessageSize, compression: compression)
        var input = ByteBuffer()
        var actions: [WebSocketAction] = []
        for chunk in chunks {
            input.append(contentsOf: chunk)
            actions += session.receive(&input)
        }
        if let first {
            #expect(actions == first, "\(label)", sourceLocation: sourceLocation)
        } else {
            first = actions
        }
    }
    return first!
}

/// The server's close frame failing the connection with `code`, then the end of TCP.
func failure(_ code: UInt16) -> (([WebSocketAction]) -> Bool) {
    { actions in
        guard actions.count == 2, case .send(let frame) = actions[0], actions[1] == .closeTransport else { return false }
        return frame.count >= 4 && frame[0] == 0x88 && frame[2] == UInt8(code >> 8) && frame[3] == UInt8(code & 0xFF)
    }
}

func text(_ s: String) -> WebSocketAction { .deliver(kind: .text, payload: Array(s.utf8)) }

@Suite struct WebSocketSessionTests {
    @Test func textAndBinaryMessagesAreDelivered() {
        let bytes = ClientFrames.frame(.text, "Hello") + ClientFrames.frame(.binary, [0, 1, 255]) + ClientFrames.frame(.text, "")
        #expect(sessionActions(bytes) == [text("Hello"), .deliver(kind: .binary, payload: [0, 1, 255]), text("")])
    }

    @Test func fragmentedMessageIsReassembled() {
        let bytes = ClientFrames.frame(.text, "fra", fin: false) + ClientFrames.frame(.continuation, "gme", fin: false)
            + ClientFrames.frame(.continuation, "", fin: false) + ClientFrames.frame(.continuation, "nted")
            + ClientFrames.frame(.binary, [1], fin: false) + ClientFrames.frame(.continuation, [2])
        #expect(sessionActions(bytes) == [text("fragmented"), .deliver(kind: .binary, payload: [1, 2])])
    }

    @Test func controlFramesMayInterleaveWithFragments() {
        let bytes = ClientFrames.frame(.text, "a", fin: false) + ClientFrames.frame(.ping, "p1")
            + ClientFrames.frame(.continuation, "b", fin: false) + ClientFrames.frame(.pong, "x")
            + ClientFrames.frame(.continuation, "c")
        #expect(sessionActions(bytes) == [
            .send(WebSocketFrameEncoder.encode(opcode: .pong, payload: Array("p1".utf8))),
            .pongReceived,
            text("abc"),
        ])
    }

    @Test func continuationWithoutMessageIsProtocolError() {
        let actions = sessionActions(ClientFrames.frame(.continuation, "x") + ClientFrames.frame(.text, "never"))
        #expect(failure(1002)(actions))
    }

    @Test func finalContinuationAfterCompletedMessageIsProtocolError() {
        let bytes = ClientFrames.frame(.text, "a", fin: false) + ClientFrames.frame(.continuation, "b")
            + ClientFrames.frame(.continuation, "c")
        let actions = sessionActions(bytes)
        #expect(actions.first == text("ab"))
        #expect(failure(1002)(Array(actions.dropFirst())))
    }

    @Test(arguments: [WebSocketOpcode.text, .binary])
    func newMessageInsideFragmentedMessageIsProtocolError(opcode: WebSocketOpcode) {
        let bytes = ClientFrames.frame(.text, "a", fin: false) + ClientFrames.frame(opcode, "b")
        #expect(failure(1002)(sessionActions(bytes)))
    }

    @Test func pingIsAnsweredWithPongCarryingTheSamePayload() {
        let payload = ClientFrames.bytes(125)
        let bytes = ClientFrames.frame(.ping, payload) + ClientFrames.frame(.ping, [])
        #expect(sessionActions(bytes) == [
            .send(WebSocketFrameEncoder.encode(opcode: .pong, payload: payload)),
            .send([0x8A, 0x00]),
        ])
    }

    @Test func unsolicitedPongIsReportedAndOtherwiseIgnored() {
        #expect(sessionActions(ClientFrames.frame(.pong, "whatever")) == [.pongReceived])
    }

    @Test func serverPingIsAnUnmaskedPingFrame() {
        var session = WebSocketSession(maxMessageSize: 100)
        #expect(session.ping([1, 2, 3]) == [.send([0x89, 3, 1, 2, 3])])
        #expect(session.ping() == [.send([0x89, 0])])
        guard case .send(let long) = session.ping(ClientFrames.bytes(200)).first else { Issue.record(); return }
        #expect(long.count == 2 + 125)
    }

    @Test func invalidUTF8TextIsInvalidPayload() {
        let bytes = ClientFrames.frame(.text, [0x48, 0xC0, 0xAF]) + ClientFrames.frame(.text, "never")
        #expect(failure(1007)(sessionActions(bytes)))
    }

    @Test func invalidUTF8BinaryIsDelivered() {
        #expect(sessionActions(ClientFrames.frame(.binary, [0xC0, 0xAF])) == [.deliver(kind: .binary, payload: [0xC0, 0xAF])])
    }

    @Test func codePointSplitAcrossFragmentsIsValid() {
        // "κόσμε" with every fragment boundary inside a 2-byte sequence.
        let utf8 = Array("κόσμε".utf8)
        var bytes: [UInt8] = []
        var i = 0
        while i < utf8.count {
            let end = min(utf8.count, i + 3)
            bytes += ClientFrames.frame(i == 0 ? .text : .continuation, Array(utf8[i..<end]), fin: end == utf8.count)
            i = end
        }
        #expect(sessionActions(bytes) == [text("κόσμε")])
    }

    @Test func textEndingInsideASequenceIsInvalidPayload() {
        let bytes = ClientFrames.frame(.text, [0x61, 0xCE], fin: false) + ClientFrames.frame(.continuation, [])
        #expect(failure(1007)(sessionActions(bytes)))
        #expect(failure(1007)(sessionActions(ClientFrames.frame(.text, [0xF0, 0x90, 0x80]))))
    }

    @Test func invalidFragmentFailsBeforeTheMessageCompletes() {
        // Autobahn 6.4.1: valid first fragment, invalid second, the third never comes.
        let first = ClientFrames.frame(.text, "κόσμε", fin: false)
        let second = ClientFrames.frame(.continuation, [0xF4, 0x90, 0x80, 0x80], fin: false)
        #expect(failure(1007)(sessionActions(first + second)))

        var session = WebSocketSession(maxMessageSize: 1 << 20)
        var input = ByteBuffer(first)
        #expect(session.receive(&input).isEmpty)
        // Autobahn 6.4.2: the first fragment ends with a lead byte that is still fine...
        input.append(contentsOf: ClientFrames.frame(.continuation, [0xF4], fin: false))
        #expect(session.receive(&input).isEmpty)
        // ...until a byte that no completion could make valid.
        input.append(contentsOf: ClientFrames.frame(.continuation, [0x90], fin: false))
        #expect(failure(1007)(session.receive(&input)))
        #expect(session.state == .closed)
    }

    @Test func invalidBytesFailWhileTheirFrameIsStillArriving() {
        // Autobahn 6.4.3/6.4.4: one frame sent in chops; the chop with the bad byte fails it.
        let payload = Array("κόσμε".utf8) + [0xF4, 0x90, 0x80, 0x80] + Array(repeating: UInt8(0x61), count: 300)
        let frame = ClientFrames.frame(.text, payload)
        let headerSize = 2 + 2 + 4
        let uptoBadByte = Array(frame.prefix(headerSize + Array("κόσμε".utf8).count + 2))
        #expect(failure(1007)(sessionActions(uptoBadByte)))

        let upToLeadByte = headerSize + Array("κόσμε".utf8).count + 1
        var session = WebSocketSession(maxMessageSize: 1 << 20)
        var input = ByteBuffer(frame.prefix(upToLeadByte))
        #expect(session.receive(&input).isEmpty)  // "κόσμε" then F4: still fine
        input.append(contentsOf: frame[upToLeadByte..<(upToLeadByte + 1)])
        #expect(failure(1007)(session.receive(&input)))
    }

    @Test func largeValidTextArrivingInPiecesIsValidatedOnce() {
        let message = String(repeating: "añ€𝄞", count: 5000)
        let frame = ClientFrames.frame(.text, message)
        for chunk in [1, 7, 1000, 4096] {
            var session = WebSocketSession(maxMessageSize: 1 << 20)
            var input = ByteBuffer()
            var actions: [WebSocketAction] = []
            var i = 0
            while i < frame.count {
                input.append(contentsOf: frame[i..<min(frame.count, i + chunk)])
                actions += session.receive(&input)
                i += chunk
            }
            #expect(actions == [text(message)], "chunk \(chunk)")
        }
    }

    @Test func messageAtTheSizeLimitIsDeliveredAndOneBytePastIsTooBig() {
        let atLimit = ClientFrames.bytes(1024)
        #expect(sessionActions(ClientFrames.frame(.binary, atLimit), maxMessageSize: 1024) == [.deliver(kind: .binary, payload: atLimit)])
        #expect(failure(1009)(sessionActions(ClientFrames.frame(.binary, ClientFrames.bytes(1025)), maxMessageSize: 1024)))
        let ascii = String(repeating: "x", count: 1024)
        #expect(sessionActions(ClientFrames.frame(.text, ascii), maxMessageSize: 1024) == [text(ascii)])
        #expect(failure(1009)(sessionActions(ClientFrames.frame(.text, ascii + "x"), maxMessageSize: 1024)))
    }

    @Test func fragmentedMessageAtTheSizeLimitIsDeliveredAndOneBytePastIsTooBig() {
        let a = ClientFrames.bytes(1000)
        let b = ClientFrames.bytes(24, seed: 3)
        let ok = ClientFrames.frame(.binary, a, fin: false) + ClientFrames.frame(.continuation, [], fin: false)
            + ClientFrames.frame(.continuation, b)
        #expect(sessionActions(ok, maxMessageSize: 1024) == [.deliver(kind: .binary, payload: a + b)])
        let tooBig = ClientFrames.frame(.binary, a, fin: false) + ClientFrames.frame(.continuation, b, fin: false)
            + ClientFrames.frame(.continuation, [0])
        #expect(failure(1009)(sessionActions(tooBig, maxMessageSize: 1024)))
    }

    @Test func tooBigMessageFailsFromTheFrameHeader() {
        // Only the header of a too-big continuation has arrived: no payload needs buffering.
        let first = ClientFrames.frame(.binary, ClientFrames.bytes(1000), fin: false)
        let header = Array(ClientFrames.frame(.continuation, ClientFrames.bytes(25)).prefix(6))
        #expect(failure(1009)(sessionActions(first + header, maxMessageSize: 1024)))
        let single = Array(ClientFrames.frame(.binary, ClientFrames.bytes(5000)).prefix(8))
        #expect(failure(1009)(sessionActions(single, maxMessageSize: 1024)))
    }

    @Test func decoderErrorsFailTheSessionWithTheirCode() {
        #expect(failure(1002)(sessionActions(ClientFrames.raw(byte0: 0x81, payload: [0x61], masked: false))))
        #expect(failure(1002)(sessionActions(ClientFrames.raw(byte0: 0xC1, payload: [0x61]))))
        #expect(failure(1002)(sessionActions(ClientFrames.raw(byte0: 0x85))))
        #expect(failure(1002)(sessionActions(ClientFrames.frame(.ping, ClientFrames.bytes(126)))))
        #expect(failure(1002)(sessionActions(ClientFrames.frame(.ping, [], fin: false))))
    }

    @Test func messagesBeforeAnErrorAreDeliveredAndNothingAfter() {
        // Autobahn 3.2: a good message, a frame with RSV set, then a ping that must go unanswered.
        let bytes = ClientFrames.frame(.text, "Hello") + ClientFrames.raw(byte0: 0xA1, payload: [0x61])
            + ClientFrames.frame(.ping, "p")
        let actions = sessionActions(bytes)
        #expect(actions.first == text("Hello"))
        #expect(failure(1002)(Array(actions.dropFirst())))
    }

    @Test func failedSessionIgnoresEverythingAfter() {
        var session = WebSocketSession(maxMessageSize: 100)
        var input = ByteBuffer(ClientFrames.frame(.continuation, "x") + ClientFrames.frame(.text, "y"))
        #expect(failure(1002)(session.receive(&input)))
        #expect(input.isEmpty)
        #expect(session.state == .closed)
        #expect(!session.canSend)
        input.append(contentsOf: ClientFrames.frame(.ping, "p") + ClientFrames.frame(.text, "z"))
        #expect(session.receive(&input).isEmpty)
        #expect(session.ping().isEmpty)
        #expect(session.close(code: 1000, reason: "").isEmpty)
    }

    @Test func manyMessagesInOneReadAreAllDelivered() {
        var bytes: [UInt8] = []
        var expected: [WebSocketAction] = []
        for i in 0..<50 {
            bytes += ClientFrames.frame(.text, "message \(i)")
            expected.append(text("message \(i)"))
        }
        #expect(sessionActions(bytes) == expected)
    }
}
