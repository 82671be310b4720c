import Testing
@testable import HeraldAccess

@Suite struct Base64URLTests {
    @Test(arguments: [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy")])
    func rfc4648Vectors(_ plain: String, _ encoded: String) {
        #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
        #expect(Base64URL.decode(Array(encoded.utf8)) == Array(plain.utf8))
    }

    @Test func theURLAlphabetReplacesPlusAndSlash() {
        #expect(Base64URL.encode([0xfb, 0xff]) == "-_8")
        #expect(Base64URL.decode(Array("-_8".utf8)) == [0xfb, 0xff])
    }

    @Test(arguments: ["Zg==", "Zm8=", "+/8", "Zm9v Yg", "Z", "Zh", "Zm9", "Zm\u{0}v"])
    func nonCanonicalOrForeignInputIsRefused(_ text: String) {
        // Padding, the standard alphabet, whitespace, a lone character, and unused bits set.
        #expect(Base64URL.decode(Array(text.utf8)) == nil)
    }
}
