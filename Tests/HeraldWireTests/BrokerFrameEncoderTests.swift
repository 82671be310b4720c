import HeraldTestSupport
import Testing
@testable import HeraldWire

@Suite struct BrokerFrameEncoderTests {
    @Test func helloHasTheDocumentedWireLayout() {
        let bytes = BrokerFrameEncoder.encode(.hello(version: 1, processName: "w1", lastSeq: 0x0102, epoch: "ép"))
        #expect(bytes == [
            0, 0, 0, 24,             // N = 1 type + 2 version + 4+2 name + 8 seq + 4+3 epoch
            1,                       // hello
            0, 1,                    // version
            0, 0, 0, 2, 0x77, 0x31,  // "w1"
            0, 0, 0, 0, 0, 0, 0x01, 0x02,
            0, 0, 0, 3, 0xC3, 0xA9, 0x70,  // "ép"
        ])
    }

    @Test func pingAndBatchFramesHaveTheDocumentedWireLayout() {
        #expect(BrokerFrameEncoder.encode(.ping(token: 0xA1B2)) == [0, 0, 0, 9, 7, 0, 0, 0, 0, 0, 0, 0xA1, 0xB2])
        #expect(BrokerFrameEncoder.encode(.outputs(batchID: 1, payload: [0xEE])) == [0, 0, 0, 10, 5, 0, 0, 0, 0, 0, 0, 0, 1, 0xEE])
        #expect(BrokerFrameEncoder.encode(.events(payload: [])) == [0, 0, 0, 1, 6])
    }

    @Test(arguments: BrokerFrameSamples.all)
    func encodedLengthMatchesTheBytes(_ frame: BrokerFrame) {
        let bytes = BrokerFrameEncoder.encode(frame)
        #expect(BrokerFrameEncoder.encodedLength(of: frame) == bytes.count)
        let n = bytes[0..<4].reduce(0) { $0 << 8 | Int($1) }
        #expect(n == bytes.count - 4)
        #expect(bytes[4] == frame.type.rawValue)
    }

    @Test func encodeIntoAppendsAfterExistingBytes() {
        var out: [UInt8] = [0xAA]
        BrokerFrameEncoder.encode(.pong(token: 1, seq: 2), into: &out)
        #expect(out == [0xAA] + BrokerFrameEncoder.encode(.pong(token: 1, seq: 2)))
    }

    @Test func typeBytesAreTheProtocolNumbers() {
        #expect(BrokerFrameType.allCases.map(\.rawValue) == Array(1...9))
        #expect(BrokerFrame.protocolVersion == 4)
    }
}
