import Testing
@testable import HeraldWire

@Suite struct WebSocketFrameEncoderTests {
    @Test func serverFramesAreUnmasked() {
        #expect(WebSocketFrameEncoder.encode(opcode: .text, payload: Array("Hello".utf8)) == [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
        #expect(WebSocketFrameEncoder.encode(opcode: .ping, payload: [UInt8]()) == [0x89, 0x00])
        #expect(WebSocketFrameEncoder.encode(opcode: .binary, payload: [1, 2], fin: false) == [0x02, 0x02, 1, 2])
    }

    @Test(arguments: [0, 125, 126, 65535, 65536])
    func headerPlusPayloadEqualsTheWholeFrame(length: Int) {
        let payload = ClientFrames.bytes(length)
        let whole = WebSocketFrameEncoder.encode(opcode: .text, payload: payload)
        #expect(WebSocketFrameEncoder.header(opcode: .text, payloadLength: length) + payload == whole)
        let outcome = decodeEverySplit(whole, requireMasked: false)
        #expect(outcome == DecodeOutcome(frames: [WebSocketFrame(opcode: .text, payload: payload)]))
    }

    @Test func headerSizesFollowTheLengthForms() {
        #expect(WebSocketFrameEncoder.header(opcode: .binary, payloadLength: 125) == [0x82, 125])
        #expect(WebSocketFrameEncoder.header(opcode: .binary, payloadLength: 126) == [0x82, 126, 0, 126])
        #expect(WebSocketFrameEncoder.header(opcode: .binary, payloadLength: 65535) == [0x82, 126, 0xFF, 0xFF])
        #expect(WebSocketFrameEncoder.header(opcode: .binary, payloadLength: 65536) == [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0])
        #expect(WebSocketFrameEncoder.header(opcode: .continuation, payloadLength: 1, fin: false) == [0x00, 1])
    }

    @Test(arguments: [0, 1, 125, 126, 127, 65535, 65536, 1 << 40])
    func aHeaderWrittenInPlaceIsTheArraysBytesAndCount(length: Int) {
        let expected = WebSocketFrameEncoder.header(opcode: .text, payloadLength: length)
        var out = [UInt8](repeating: 0xEE, count: WebSocketFrameEncoder.maxHeaderCount + 1)
        let count = out.withUnsafeMutableBytes { WebSocketFrameEncoder.writeHeader(opcode: .text, payloadLength: length, to: $0.baseAddress!) }
        #expect(count == WebSocketFrameEncoder.headerCount(payloadLength: length))
        #expect(Array(out[0..<count]) == expected)
        #expect(out[count...].allSatisfy { $0 == 0xEE })  // nothing written past the header
    }

    @Test func closePayloadIsCodeThenReason() {
        #expect(WebSocketFrameEncoder.closePayload(code: 1000, reason: "") == [0x03, 0xE8])
        #expect(WebSocketFrameEncoder.closePayload(code: 4001, reason: "bye") == [0x0F, 0xA1, 0x62, 0x79, 0x65])
        #expect(WebSocketFrameEncoder.closeFrame(code: 1008, reason: "slow") == [0x88, 6, 0x03, 0xF0] + Array("slow".utf8))
    }

    @Test func closeReasonIsTruncatedTo123BytesWithoutCuttingACharacter() {
        let ascii = String(repeating: "a", count: 200)
        #expect(WebSocketFrameEncoder.closePayload(code: 1000, reason: ascii).count == 125)
        #expect(WebSocketFrameEncoder.closePayload(code: 1000, reason: String(repeating: "a", count: 123)).count == 125)
        // "é" is 2 bytes, "€" 3, "𝄞" 4: put each so that it straddles byte 123.
        for filler in 118...123 {
            for char in ["é", "€", "𝄞"] {
                let reason = String(repeating: "a", count: filler) + char + "zz"
                let payload = WebSocketFrameEncoder.closePayload(code: 1000, reason: reason)
                let reasonBytes = Array(payload.dropFirst(2))
                #expect(payload.count <= 125)
                #expect(String(validating: reasonBytes, as: UTF8.self) != nil, "filler \(filler) \(char)")
                let fits = filler + char.utf8.count <= 123
                #expect(reasonBytes.count == (fits ? min(123, filler + char.utf8.count + 2) : filler))
            }
        }
    }

    @Test func maskedEncodingIsTheRFCExample() {
        // RFC 6455 §5.7.
        #expect(
            WebSocketFrameEncoder.encode(opcode: .text, payload: Array("Hello".utf8), maskKey: [0x37, 0xFA, 0x21, 0x3D])
                == [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    }

    @Test func encodesFromAnyCollection() {
        let payload: ArraySlice<UInt8> = Array("xHelloy".utf8)[1..<6]
        #expect(WebSocketFrameEncoder.encode(opcode: .text, payload: payload) == [0x81, 0x05] + Array("Hello".utf8))
        #expect(WebSocketFrameEncoder.encode(opcode: .text, payload: "Hello".utf8, maskKey: ClientFrames.maskKey) == ClientFrames.frame(.text, "Hello"))
    }
}
