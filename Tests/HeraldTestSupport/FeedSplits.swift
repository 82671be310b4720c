
/// Decoder tests feed every input whole, byte by byte, and in seeded random splits
/// (design.md, house style 8). `FeedSplits.all(bytes)` gives those chunkings.
public enum FeedSplits {
    /// A small deterministic PRNG (SplitMix64), so a failing split can be reproduced by seed.
    public struct SeededGenerator: RandomNumberGenerator {
        public var state: UInt64
        public init(seed: UInt64) { state = seed }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    public static func whole(_ bytes: [UInt8]) -> [[UInt8]] { [bytes] }

    public static func byteByByte(_ bytes: [UInt8]) -> [[UInt8]] { bytes.map { [$0] } }

    public static func random(_ bytes: [UInt8], seed: UInt64) -> [[UInt8]] {
        var rng = SeededGenerator(seed: seed)
        var out: [[UInt8]] = []
        var i = 0
        while i < bytes.count {
            let n = Int.random(in: 1...max(1, min(bytes.count - i, 1 + bytes.count / 3)), using: &rng)
            out.append(Array(bytes[i..<(i + n)]))
            i += n
        }
        return out
    }

    /// Whole, byte by byte, and 20 seeded random splits, each labelled for failure messages.
    public static func all(_ bytes: [UInt8], seeds: Range<UInt64> = 1..<21) -> [(label: String, chunks: [[UInt8]])] {
        var out: [(String, [[UInt8]])] = [("whole", whole(bytes)), ("byte-by-byte", byteByByte(bytes))]
        for seed in seeds { out.append(("seed \(seed)", random(bytes, seed: seed))) }
        return out
    }
}
