import Testing
@testable import HeraldServer

@Suite struct GzipCompressorTests {
    static func text(_ count: Int) -> [UInt8] {
        let line = Array("body { color: #333; margin: 0 auto; } /* herald dashboard */\n".utf8)
        return (0..<count).map { line[$0 % line.count] }
    }

    static func random(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407  // LCG: deterministic
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    @Test(arguments: [0, 1, 255, 256, 64 * 1024, 1024 * 1024 + 7])
    func roundTripRestoresTheInput(count: Int) throws {
        let input = Self.text(count)
        let compressed = GzipCompressor.gzip(input)
        #expect(Array(compressed.prefix(3)) == [0x1f, 0x8b, 0x08])  // RFC 1952 §2.3.1: magic, deflate
        #expect(try #require(GzipCompressor.gunzip(compressed)) == input)
    }

    @Test func repetitiveTextShrinks() {
        let input = Self.text(100_000)
        #expect(GzipCompressor.gzip(input).count < input.count / 10)
    }

    @Test func randomBytesRoundTripThoughTheyDoNotShrink() throws {
        let input = Self.random(300_000, seed: 42)
        let compressed = GzipCompressor.gzip(input)
        #expect(compressed.count >= input.count)
        #expect(try #require(GzipCompressor.gunzip(compressed)) == input)
    }

    @Test(arguments: [Int32(1), 6, 9])
    func everyLevelRoundTrips(level: Int32) throws {
        let input = Self.text(50_000) + Self.random(10_000, seed: 7)
        #expect(try #require(GzipCompressor.gunzip(GzipCompressor.gzip(input, level: level))) == input)
    }

    @Test func gunzipRejectsNonGzip() {
        #expect(GzipCompressor.gunzip(Array("plain text, not gzip".utf8)) == nil)
        #expect(GzipCompressor.gunzip([]) == nil)
    }

    @Test func gunzipRejectsTruncatedInput() {
        let compressed = GzipCompressor.gzip(Self.text(10_000))
        #expect(GzipCompressor.gunzip(Array(compressed.dropLast(4))) == nil)  // no ISIZE
        #expect(GzipCompressor.gunzip(Array(compressed.prefix(compressed.count / 2))) == nil)
    }

    @Test func gunzipRejectsCorruptInput() {
        var compressed = GzipCompressor.gzip(Self.text(10_000))
        compressed[compressed.count - 6] ^= 0xff  // CRC-32 no longer matches
        #expect(GzipCompressor.gunzip(compressed) == nil)
    }

    @Test func gunzipRejectsTrailingBytes() {
        #expect(GzipCompressor.gunzip(GzipCompressor.gzip(Self.text(1000)) + [0x00]) == nil)
    }

    @Test func gunzipStopsAtTheOutputLimit() throws {
        let compressed = GzipCompressor.gzip([UInt8](repeating: 0, count: 1_000_000))
        #expect(GzipCompressor.gunzip(compressed, maxOutputBytes: 999_999) == nil)
        #expect(try #require(GzipCompressor.gunzip(compressed, maxOutputBytes: 1_000_000)).count == 1_000_000)
    }
}
