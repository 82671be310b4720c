import HeraldTestSupport
import Testing
@testable import HeraldWire

/// Builders for client-side bytes, shared by the WebSocket test suites.
enum ClientFrames {
    static let maskKey: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]

    /// A masked client frame, as a browser would send it.
    static func frame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true) -> [UInt8] {
        WebSocketFrameEncoder.encode(opcode: opcode, payload: payload, fin: fin, maskKey: maskKey)
    }

    static func frame(_ opcode: WebSocketOpcode, _ text: String, fin: Bool = true) -> [UInt8] {
        frame(opcode, Array(text.utf8), fin: fin)
    }

    static func close(code: UInt16, reason: [UInt8] = []) -> [UInt8] {
        frame(.close, [UInt8(code >> 8), UInt8(code & 0xFF)] + reason)
    }

    /// Any first byte (for reserved bits and opcodes), a 7-bit length, masked or not.
    static func raw(byte0: UInt8, payload: [UInt8] = [], masked: Bool = true) -> [UInt8] {
        precondition(payload.count <= 125)
        var out: [UInt8] = [byte0, (masked ? 0x80 : 0) | UInt8(payload.count)]
        if masked {
            out += maskKey
            out += payload.enumerated().map { $0.element ^ maskKey[$0.offset % 4] }
        } else {
            out += payload
        }
        return out
    }

    /// A masked frame whose length uses the 16-bit or 64-bit form whatever its size.
    static func withLongLength(_ opcode: WebSocketOpcode, _ payload: [UInt8], lengthBytes: Int) -> [UInt8] {
        var out: [UInt8] = [0x80 | opcode.rawValue, 0x80 | (lengthBytes == 2 ? 126 : 127)]
        for i in stride(from: lengthBytes - 1, through: 0, by: -1) { out.append(UInt8(truncatingIfNeeded: payload.count >> (8 * i))) }
        out += maskKey
        out += payload.enumerated().map { $0.element ^ maskKey[$0.offset % 4] }
        return out
    }

    /// Deterministic filler bytes.
    static func bytes(_ count: Int, seed: UInt8 = 7) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
    }
}

/// What a decoder made of a byte stream: the frames, then the error that stopped it, if any.
struct DecodeOutcome: Equatable {
    var frames: [WebSocketFrame] = []
    var error: WebSocketProtocolError?
}

/// Feeds `bytes` whole, byte by byte and in seeded random splits; every split must give the
/// same outcome, which is returned.
func decodeEverySplit(
    _ bytes: [UInt8], maxFramePayload: Int = 1 << 20, requireMasked: Bool = true,
    sourceLocation: SourceLocation = #_sourceLocation
) -> DecodeOutcome {
    var first: DecodeOutcome?
    for (label, chunks) in FeedSplits.all(bytes) {
        var decoder = WebSocketFrameDecoder(maxFramePayload: maxFramePayload, requireMasked: requireMasked)
        var input = ByteBuffer()
        var outcome = DecodeOutcome()
        feeding: for chunk in chunks {
            input.append(contentsOf: chunk)
            do {
                while let frame = try decoder.next(&input) { outcome.frames.append(frame) }
            } catch {
                outcome.error = error
                break feeding
            }
        }
        if outcome.error == nil {
            #expect(input.isEmpty, "\(label): bytes left over", sourceLocation: sourceLocation)
        }
        if let first {
            #expect(outcome == first, "\(label)", sourceLocation: sourceLocation)
        } else {
            first = outcome
        }
    }
    return first!
}

/// Decodes `bytes` fed at once: the error, or nil when the decoder waits for more.
func decodeError(_ bytes: [UInt8], maxFramePayload: Int = 1 << 20, requireMasked: Bool = true) -> WebSocketProtocolError? {
    var decoder = WebSocketFrameDecoder(maxFramePayload: maxFramePayload, requireMasked: requireMasked)
    var input = ByteBuffer(bytes)
    do {
        while try decoder.next(&input) != nil {}
        return nil
    } catch {
        return error
    }
}

@Suite struct WebSocketFrameDecoderTests {
    @Test(arguments: [0, 1, 125, 126, 127, 65535, 65536, 70_000])
    func maskedFramesRoundTripAtEveryLengthForm(length: Int) {
        let payload = ClientFrames.bytes(length)
        let bytes = ClientFrames.frame(.binary, payload) + ClientFrames.frame(.text, "after", fin: false)
        let outcome = decodeEverySplit(bytes)
        #expect(outcome.error == nil)
        #expect(outcome.frames == [
            WebSocketFrame(opcode: .binary, payload: payload),
            WebSocketFrame(fin: false, opcode: .text, payload: Array("after".utf8)),
        ])
    }

    @Test func headerLengthFormsMatchRFC6455() {
        let key = ClientFrames.maskKey
        #expect(Array(ClientFrames.frame(.text, ClientFrames.bytes(125)).prefix(2)) == [0x81, 0x80 | 125])
        #expect(Array(ClientFrames.frame(.text, ClientFrames.bytes(126)).prefix(8)) == [0x81, 0x80 | 126, 0, 126] + key)
        #expect(Array(ClientFrames.frame(.text, ClientFrames.bytes(65535)).prefix(8)) == [0x81, 0x80 | 126, 0xFF, 0xFF] + key)
        #expect(Array(ClientFrames.frame(.text, ClientFrames.bytes(65536)).prefix(14)) == [0x81, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0] + key)
    }

    @Test func nonMinimalLengthEncodingsAreAccepted() {
        let payload = Array("Hello".utf8)
        for lengthBytes in [2, 8] {
            let outcome = decodeEverySplit(ClientFrames.withLongLength(.text, payload, lengthBytes: lengthBytes))
            #expect(outcome == DecodeOutcome(frames: [WebSocketFrame(opcode: .text, payload: payload)]))
        }
    }

    @Test func rfcMaskedHelloExampleDecodes() {
        // RFC 6455 §5.7: a single-frame masked text message "Hello".
        let bytes: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        #expect(decodeEverySplit(bytes).frames == [WebSocketFrame(opcode: .text, payload: Array("Hello".utf8))])
        #expect(ClientFrames.frame(.text, "Hello") == bytes)
    }

    @Test func unmaskedClientFrameIsProtocolError() {
        let outcome = decodeEverySplit(ClientFrames.raw(byte0: 0x81, payload: Array("hi".utf8), masked: false))
        #expect(outcome.frames.isEmpty)
        #expect(outcome.error?.closeCode == 1002)
        // Known from the first two bytes.
        #expect(decodeError([0x81, 0x02])?.closeCode == 1002)
    }

    @Test func unmaskedFramesAreAcceptedWhenMasksAreNotRequired() {
        let bytes = WebSocketFrameEncoder.encode(opcode: .text, payload: Array("hi".utf8))
        let outcome = decodeEverySplit(bytes, requireMasked: false)
        #expect(outcome == DecodeOutcome(frames: [WebSocketFrame(opcode: .text, payload: Array("hi".utf8))]))
    }

    @Test(arguments: [UInt8(0x40), 0x20, 0x10, 0x70])
    func reservedBitsAreProtocolError(bits: UInt8) {
        let outcome = decodeEverySplit(ClientFrames.raw(byte0: 0x81 | bits, payload: [0x61]))
        #expect(outcome.error?.closeCode == 1002)
        #expect(outcome.frames.isEmpty)
    }

    @Test(arguments: [UInt8(3), 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
    func reservedOpcodesAreProtocolError(opcode: UInt8) {
        let outcome = decodeEverySplit(ClientFrames.raw(byte0: 0x80 | opcode))
        #expect(outcome.error?.closeCode == 1002)
    }

    @Test(arguments: [WebSocketOpcode.ping, .pong, .close])
    func fragmentedControlFrameIsProtocolError(opcode: WebSocketOpcode) {
        let outcome = decodeEverySplit(ClientFrames.frame(opcode, [], fin: false))
        #expect(outcome.error?.closeCode == 1002)
    }

    @Test(arguments: [WebSocketOpcode.ping, .pong, .close])
    func controlFrameOf125BytesIsAcceptedAnd126IsProtocolError(opcode: WebSocketOpcode) {
        let ok = decodeEverySplit(ClientFrames.frame(opcode, ClientFrames.bytes(125)))
        #expect(ok == DecodeOutcome(frames: [WebSocketFrame(opcode: opcode, payload: ClientFrames.bytes(125))]))
        let tooLong = decodeEverySplit(ClientFrames.frame(opcode, ClientFrames.bytes(126)))
        #expect(tooLong.error?.closeCode == 1002)
        #expect(decodeError([0x80 | opcode.rawValue, 0x80 | 126])?.closeCode == 1002)
    }

    @Test func sixtyFourBitLengthWithHighBitIsProtocolError() {
        let bytes: [UInt8] = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1] + ClientFrames.maskKey
        #expect(decodeEverySplit(bytes).error?.closeCode == 1002)
        // Without waiting for the mask key.
        #expect(decodeError(Array(bytes.prefix(10)))?.closeCode == 1002)
    }

    @Test(arguments: [125, 126, 65535, 65536])
    func framePayloadAtTheLimitIsAcceptedAndOnePastIsTooBig(limit: Int) {
        let atLimit = decodeEverySplit(ClientFrames.frame(.binary, ClientFrames.bytes(limit)), maxFramePayload: limit)
        #expect(atLimit.error == nil)
        #expect(atLimit.frames.map(\.payload.count) == [limit])
        let tooBig = ClientFrames.frame(.binary, ClientFrames.bytes(limit + 1))
        #expect(decodeEverySplit(tooBig, maxFramePayload: limit).error?.closeCode == 1009)
    }

    @Test func tooBigFrameFailsFromItsHeaderBeforeThePayload() {
        let header = WebSocketFrameEncoder.header(opcode: .binary, payloadLength: 1 << 30)
        // The length field alone is enough: no mask key, no payload yet.
        var masked = header
        masked[1] |= 0x80
        #expect(decodeError(masked, maxFramePayload: 1 << 20)?.closeCode == 1009)
        #expect(decodeError(header, maxFramePayload: 1 << 20, requireMasked: false)?.closeCode == 1009)
    }

    @Test func waitsForMoreBytesWithoutConsumingAPartialHeader() throws {
        var decoder = WebSocketFrameDecoder(maxFramePayload: 1 << 20)
        let frame = ClientFrames.frame(.text, ClientFrames.bytes(300))
        var input = ByteBuffer(frame.prefix(3))
        #expect(try decoder.next(&input) == nil)
        #expect(input.readableBytes == 3)
        #expect(decoder.pendingHeader == nil)
        input.append(contentsOf: frame[3..<20])
        #expect(try decoder.next(&input) == nil)
        #expect(decoder.pendingHeader?.payloadLength == 300)
        #expect(decoder.pendingPayloadBytes(in: input) == 12)
        input.append(contentsOf: frame[20...])
        #expect(try decoder.next(&input)?.payload == ClientFrames.bytes(300))
        #expect(input.isEmpty)
        #expect(decoder.pendingHeader == nil)
    }

    @Test func partialPayloadUnmasksFromAnyOffset() throws {
        let payload = ClientFrames.bytes(61, seed: 99)
        let frame = ClientFrames.frame(.binary, payload)
        for arrived in [0, 1, 5, 17, 40, 61] {
            var decoder = WebSocketFrameDecoder(maxFramePayload: 100)
            var input = ByteBuffer(frame.prefix(6 + arrived))
            #expect(try decoder.next(&input) == nil || arrived == 61)
            guard arrived < 61 else { continue }
            for offset in 0...arrived {
                #expect(decoder.partialPayload(in: input, from: offset) == Array(payload[offset..<arrived]))
            }
        }
    }

    @Test func wordAtATimeMaskingMatchesTheByteDefinition() {
        let key: UInt32 = 0xA1B2_C3D4
        let keyBytes: [UInt8] = [0xD4, 0xC3, 0xB2, 0xA1]
        for count in 0..<40 {
            for phase in 0..<4 {
                let src = ClientFrames.bytes(count, seed: UInt8(count))
                var dst = [UInt8](repeating: 0, count: count)
                src.withUnsafeBytes { s in
                    dst.withUnsafeMutableBytes { d in WebSocketMasking.apply(key: key, phase: phase, from: s, to: d) }
                }
                let expected = src.enumerated().map { $0.element ^ keyBytes[($0.offset + phase) % 4] }
                #expect(dst == expected, "count \(count) phase \(phase)")
            }
        }
    }

    @Test func framesAfterAnErrorAreNotDecoded() {
        let bytes = ClientFrames.frame(.text, "ok") + ClientFrames.raw(byte0: 0x83) + ClientFrames.frame(.text, "never")
        let outcome = decodeEverySplit(bytes)
        #expect(outcome.frames == [WebSocketFrame(opcode: .text, payload: Array("ok".utf8))])
        #expect(outcome.error?.closeCode == 1002)
    }
}
