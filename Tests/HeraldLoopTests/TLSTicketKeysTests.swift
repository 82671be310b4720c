import HeraldLoop
import Testing

@Suite struct TLSTicketKeysTests {
    @Test func hexRoundTrip() throws {
        let keys = TLSTicketKeys.random()
        #expect(keys.bytes.count == 80)
        #expect(TLSTicketKeys(hex: keys.hex) == keys)
        #expect(TLSTicketKeys.random() != keys)
    }

    @Test func malformedHexIsRefused() {
        let good = TLSTicketKeys.random().hex
        #expect(TLSTicketKeys(hex: String(good.dropLast(2))) == nil)                 // 79 bytes
        #expect(TLSTicketKeys(hex: good + "00") == nil)                                // 81 bytes
        #expect(TLSTicketKeys(hex: "zz" + String(good.dropFirst(2))) == nil)          // not hex
        #expect(TLSTicketKeys(hex: good.uppercased()) == nil || good.uppercased() == good)
    }
}
