import HeraldTestSupport
import Testing
@testable import HeraldWire

@Suite struct Base64Tests {
    /// RFC 4648 §10 test vectors.
    static let vectors: [(String, String)] = [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ]

    @Test func encodesTheRFC4648Vectors() {
        for (plain, encoded) in Self.vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
        }
    }

    @Test func roundTripsEveryByteValueAndLength() {
        var rng = FeedSplits.SeededGenerator(seed: 42)
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        let all = (0...255).map { UInt8($0) }
        #expect(Base64.decode(Base64.encode(all)) == all)
        #expect(Base64.encode([0xFB, 0xFF, 0xBF]) == "+/+/")
    }

    @Test(arguments: [
        "Zg", "Zg=", "Zg===", "Z===", "=Zg=", "Zm=v", "Zm9v====",  // length and padding placement
        "Zh==", "Zm9=",  // unused bits not zero
        "Zm9v YmFy", "Zm-v", "Zm_v", "Zm9v\n", "Zm9\u{e9}",  // outside the alphabet
    ])
    func rejectsMalformedInput(text: String) {
        #expect(Base64.decode(text) == nil)
    }

    /// The pre-change encoder (through an array), as the reference for the direct one.
    private static func referenceEncode(_ input: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        var i = 0
        while i + 3 <= input.count {
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int(n >> UInt32(shift) & 63)]) }
            i += 3
        }
        let rest = input.count - i
        if rest > 0 {
            let n = UInt32(input[i]) << 16 | (rest == 2 ? UInt32(input[i + 1]) << 8 : 0)
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(rest == 2 ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "="))
            out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }

    @Test func directEncodingMatchesTheArrayOneForEveryLength() {
        var rng = FeedSplits.SeededGenerator(seed: 7)
        for length in 0..<80 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(Base64.encode(bytes) == Self.referenceEncode(bytes))
            #expect(Base64.encode(bytes[...]) == Self.referenceEncode(bytes))  // an ArraySlice
            #expect(Base64.encode(Set(bytes).sorted().lazy.map { $0 }) == Self.referenceEncode(Set(bytes).sorted()))  // not contiguous
        }
    }

    @Test func decodedCountIsDecodesCountOrNilExactlyWhenDecodeIs() {
        var rng = FeedSplits.SeededGenerator(seed: 11)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \u{7F}".utf8)
        var inputs = ["", "=", "==", "Zg==", "Zh==", "Zm8=", "Zm9=", "Zm9v", "Zm9", "Z===", "====", "Zg=a", "Zm9vYg==Zm9v",
                      "dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZR=="]
        for _ in 0..<3000 {
            let length = Int.random(in: 0...28, using: &rng)
            inputs.append(String(decoding: (0..<length).map { _ in alphabet.randomElement(using: &rng)! }, as: UTF8.self))
        }
        for length in 0..<30 {  // valid encodings too, so counts other than nil are exercised
            inputs.append(Base64.encode((0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }))
        }
        for text in inputs {
            #expect(Base64.decodedCount(text) == Base64.decode(text)?.count, "\(text)")
        }
    }
}
