import HeraldTestSupport
import Testing
@testable import HeraldWire

@Suite struct BrokerFrameFuzzTests {
    typealias RNG = FeedSplits.SeededGenerator

    /// 2,000 seeded byte strings: pure noise, plausible headers (small length, any type byte)
    /// with noise after them, and valid frames with a few bytes flipped, cut or inserted. The
    /// decoder must never crash, and whole and byte-by-byte feeds must agree.
    @Test func randomBytesNeverCrashTheDecoder() {
        var rng = RNG(seed: 0xB40C)
        for round in 0..<2_000 {
            var bytes: [UInt8]
            switch round % 3 {
            case 0:
                bytes = (0..<Int.random(in: 0...48, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 1:
                let n = Int.random(in: 0...40, using: &rng)
                bytes = BrokerFrameFeed.prefix(n) + [UInt8.random(in: 0...11, using: &rng)]
                bytes += (0..<Int.random(in: 0...48, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            default:
                bytes = BrokerFrameEncoder.encode(BrokerFrameSamples.all.randomElement(using: &rng)!)
                if bytes.count > 200 { bytes.removeSubrange(200...); bytes[0...3] = [0, 0, 0, 196] }
                for _ in 0..<Int.random(in: 1...3, using: &rng) where !bytes.isEmpty {
                    let at = Int.random(in: 0..<bytes.count, using: &rng)
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                    case 1: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...4, using: &rng)))
                    default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: at)
                    }
                }
            }
            let whole = BrokerFrameFeed.decode([bytes], maxFrameBytes: 1024).outcome
            let byByte = BrokerFrameFeed.decode(bytes.map { [$0] }, maxFrameBytes: 1024).outcome
            #expect(whole == byByte, "round \(round): \(bytes)")
        }
    }
}
