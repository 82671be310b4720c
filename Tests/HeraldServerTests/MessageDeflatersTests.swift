import Testing
@testable import HeraldServer
@testable import HeraldWire

/// The loop's compressors: large messages (snapshots) at the fastest level, the rest at zlib's
/// default, each exactly as a deflater made at that level compresses it.
@Suite struct MessageDeflatersTests {
    static func sampleJSON(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        let words = ["{\"id\":\"t1\",", "\"status\":\"running\",", "\"done\":500,", "\"message\":\"half way\"}", "export batch ", "42,"]
        var out: [UInt8] = []
        while out.count < count { out += Array(words.randomElement(using: &generator)!.utf8) }
        return Array(out[0..<count])
    }

    @Test func theLevelFollowsTheSizeAtAndPastTheLimit() throws {
        let deflaters = MessageDeflaters()
        let limit = MessageDeflaters.fastFromSize
        for (size, level) in [(limit - 1, Int32(-1)), (limit, MessageDeflaters.fastLevel), (limit * 8, MessageDeflaters.fastLevel),
                              (600, Int32(-1)), (limit - 1, Int32(-1))] {
            let payload = Self.sampleJSON(size)
            let compressed = try #require(deflaters.compress(payload, windowBits: 15))
            #expect(compressed == MessageDeflater(level: level).compress(payload), "\(size) bytes at level \(level)")
            #expect(try PerMessageDeflate.inflate(message: compressed, cap: size) == payload)
            // Large enough that the two levels make different bytes: the level is the one meant.
            if size >= 10_000 {
                #expect(compressed != MessageDeflater(level: level == -1 ? 1 : -1).compress(payload), "\(size) bytes")
            }
        }
    }
}
