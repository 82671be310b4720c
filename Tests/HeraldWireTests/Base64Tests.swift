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
}
