import Testing
@testable import HeraldWire

/// RFC 7692 §7.2.3's byte examples, the inflate cap, and compress → inflate round trips.
@Suite struct PerMessageDeflateTests {
    let hello = Array("Hello".utf8)

    @Test func rfcExamplesInflateToHello() throws {
        // §7.2.3.1 (compressed), §7.2.3.3 (stored block), §7.2.3.4 (BFINAL set), §7.2.3.5 (two blocks).
        let payloads: [[UInt8]] = [
            [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
            [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00],
            [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
            [0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00],
        ]
        for payload in payloads {
            #expect(try PerMessageDeflate.inflate(message: payload, cap: 5) == hello)
        }
        // §7.2.3.6: an empty message is the single byte 0x00.
        #expect(try PerMessageDeflate.inflate(message: [0x00], cap: 0) == [])
    }

    @Test func helloCompressesToTheRFCBytes() {
        #expect(MessageDeflater().compress(hello) == [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00])
        #expect(MessageDeflater().compress([]) == [0x00])
    }

    @Test func theDeflaterIsResetBetweenMessages() {
        // Without context takeover the second "Hello" must not refer back to the first.
        let deflater = MessageDeflater()
        #expect(deflater.compress(hello) == deflater.compress(hello))
    }

    /// A deflater whose level changes between messages compresses each exactly as a fresh one
    /// made at that level, and what it makes inflates back.
    @Test func theLevelChangesBetweenMessagesOnly() throws {
        var generator = SystemRandomNumberGenerator()
        let words = ["task", "progress", "\"status\":", "running", "é", "{", "}", "42", "export batch"]
        var large: [UInt8] = []
        while large.count < 300_000 { large += Array(words.randomElement(using: &generator)!.utf8) }
        let small = Array(large[0..<600])
        let shared = MessageDeflater()
        let fast = MessageDeflater(level: 1).compress(large)
        let standard = MessageDeflater().compress(large)
        #expect(fast != standard, "level 1 and the default level make different bytes for this input")
        for _ in 0..<2 {
            #expect(shared.compress(large, level: 1) == fast)
            #expect(shared.compress(small) == MessageDeflater(level: 1).compress(small), "the level is kept")
            #expect(shared.compress(large, level: -1) == standard)
            #expect(shared.compress(small) == MessageDeflater().compress(small))
        }
        #expect(try PerMessageDeflate.inflate(message: fast, cap: large.count) == large)
    }

    @Test(arguments: [8, 9, 12, 15])
    func roundTripsAtEveryWindowSize(windowBits: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let words = ["task", "progress", "\"status\":", "running", "é", "{", "}", "42"]
        var message: [UInt8] = []
        while message.count < 200_000 { message += Array(words.randomElement(using: &generator)!.utf8) }
        let compressed = MessageDeflater(windowBits: windowBits).compress(message)
        #expect(compressed.count < message.count / 2)
        #expect(try PerMessageDeflate.inflate(message: compressed, cap: message.count) == message)
    }

    @Test func theCapHoldsAtAndPastTheLimit() throws {
        let bomb = MessageDeflater().compress([UInt8](repeating: 0, count: 1 << 20))
        #expect(bomb.count < 2048)  // about 1000:1
        #expect(try PerMessageDeflate.inflate(message: bomb, cap: 1 << 20).count == 1 << 20)
        for cap in [(1 << 20) - 1, 1000, 0] {
            #expect(throws: WebSocketProtocolError.messageTooBig("inflated message exceeds \(cap) bytes")) {
                try PerMessageDeflate.inflate(message: bomb, cap: cap)
            }
        }
    }

    @Test func invalidDeflateIs1007() {
        // BTYPE 11 is reserved (RFC 1951 §3.2.3).
        #expect(throws: WebSocketProtocolError.invalidPayload("compressed payload is not valid DEFLATE")) {
            try PerMessageDeflate.inflate(message: [0xff, 0xff, 0xff], cap: 100)
        }
    }
}

@Suite struct PerMessageDeflateOfferTests {
    let both = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

    func negotiate(_ values: String...) -> PerMessageDeflateParameters? { PerMessageDeflateOffer.negotiate(values) }

    @Test func aPlainOfferGetsNoContextTakeoverBothWays() {
        #expect(negotiate("permessage-deflate") == PerMessageDeflateParameters(serverMaxWindowBits: 15, response: both))
        // What browsers, ws and websockets send.
        #expect(negotiate("permessage-deflate; client_max_window_bits")?.response == both)
        #expect(negotiate("Permessage-Deflate; Client_No_Context_Takeover")?.response == both)
    }

    @Test func serverMaxWindowBitsIsHonoured() {
        for bits in 8...15 {
            let answer = negotiate("permessage-deflate; server_max_window_bits=\(bits)")
            #expect(answer == PerMessageDeflateParameters(
                serverMaxWindowBits: bits, response: both + "; server_max_window_bits=\(bits)"))
        }
        #expect(negotiate("permessage-deflate; server_max_window_bits=\"10\"")?.serverMaxWindowBits == 10)
        #expect(negotiate("permessage-deflate; client_max_window_bits=9; server_no_context_takeover")?.response == both)
    }

    @Test func badOffersAreDeclined() {
        let bad = [
            "permessage-deflate; server_max_window_bits=7", "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits", "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=0", "permessage-deflate; client_max_window_bits=abc",
            "permessage-deflate; server_no_context_takeover=1", "permessage-deflate; unknown_parameter",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11",
            "x-webkit-deflate-frame", "",
        ]
        for offer in bad { #expect(negotiate(offer) == nil, "\(offer)") }
    }

    @Test func theFirstAcceptableOfferWins() {
        // One header with several offers, and offers spread over several headers.
        #expect(negotiate("permessage-deflate; bogus, permessage-deflate; server_max_window_bits=12, permessage-deflate")?
            .serverMaxWindowBits == 12)
        #expect(negotiate("x-webkit-deflate-frame", "permessage-deflate; server_max_window_bits=99",
                          "permessage-deflate; server_max_window_bits=11")?.serverMaxWindowBits == 11)
    }
}

/// The session with deflate negotiated: compressed client messages, and the RFC's answers to
/// bad ones (RFC 7692 §6.1, §8.2.3.2; RFC 6455 §5.2).
@Suite struct WebSocketSessionDeflateTests {
    static let helloDeflated: [UInt8] = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]

    /// A masked client frame with RSV1 set.
    func compressed(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true) -> [UInt8] {
        var frame = ClientFrames.frame(opcode, payload, fin: fin)
        frame[0] |= 0x40
        return frame
    }

    @Test func compressedMessagesAreInflated() {
        // §7.2.3.1's fragmented example, then a whole one, then an uncompressed one.
        let bytes = compressed(.text, [0xf2, 0x48, 0xcd], fin: false) + ClientFrames.frame(.continuation, [0xc9, 0xc9, 0x07, 0x00])
            + compressed(.binary, Self.helloDeflated) + ClientFrames.frame(.text, "plain")
        #expect(sessionActions(bytes, compression: true) == [
            text("Hello"), .deliver(kind: .binary, payload: Array("Hello".utf8)), text("plain"),
        ])
    }

    @Test func rsv1WithoutNegotiationIs1002() {
        #expect(failure(1002)(sessionActions(compressed(.text, Self.helloDeflated))))
    }

    @Test func compressedControlFrameIs1002() {
        #expect(failure(1002)(sessionActions(compressed(.ping, [0x00]), compression: true)))
        #expect(failure(1002)(sessionActions(compressed(.close, [0x03, 0xe8]), compression: true)))
    }

    @Test func rsv1OnAContinuationIs1002() {
        let bytes = compressed(.text, [0xf2, 0x48, 0xcd], fin: false) + compressed(.continuation, [0xc9, 0xc9, 0x07, 0x00])
        #expect(failure(1002)(sessionActions(bytes, compression: true)))
    }

    @Test func otherReservedBitsStay1002() {
        var frame = compressed(.text, Self.helloDeflated)
        frame[0] |= 0x20
        #expect(failure(1002)(sessionActions(frame, compression: true)))
    }

    @Test func aBombIs1009AtOneBytePastTheLimit() {
        let message = [UInt8](repeating: 0x61, count: 100_000)
        let frame = compressed(.text, MessageDeflater().compress(message))
        #expect(sessionActions(frame, maxMessageSize: 100_000, compression: true) == [.deliver(kind: .text, payload: message)])
        #expect(failure(1009)(sessionActions(frame, maxMessageSize: 99_999, compression: true)))
    }

    @Test func invalidUTF8AfterInflatingIs1007() {
        let frame = compressed(.text, MessageDeflater().compress([0x61, 0xff, 0x61]))
        #expect(failure(1007)(sessionActions(frame, compression: true)))
        #expect(failure(1007)(sessionActions(compressed(.text, [0xff, 0xff, 0xff]), compression: true)))
    }
}
