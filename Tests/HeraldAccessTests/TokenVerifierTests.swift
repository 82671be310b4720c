import HeraldWire
import Testing
@testable import HeraldAccess

@Suite struct TokenVerifierTests {
    static let key = Array("0123456789abcdef0123456789abcdef-herald".utf8)
    let verifier = try! TokenVerifier(key: TokenVerifierTests.key)
    let now = 1_800_000_000.0

    func token(header: String = #"{"alg":"HS256","typ":"JWT"}"#, claims: String, key: [UInt8] = TokenVerifierTests.key) -> String {
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
        return input + "." + Base64URL.encode(hmac(key, Array(input.utf8)))
    }

    @Test func rfc7515AppendixA1SignatureVerifies() throws {
        // RFC 7515 A.1: the HS256 example. Its claims have no `sub`, so the verifier gets past
        // the signature (which must match) and refuses the claims.
        let k = try #require(Base64URL.decode(Array("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow".utf8)))
        let jws = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        let rfc = try TokenVerifier(key: k)
        #expect(throws: TokenError.invalidClaim("sub must be an owner name: 1–64 characters of A–Z a–z 0–9 . _ -")) {
            try rfc.verify(Array(jws.utf8), now: 1_300_819_000)
        }
        var tampered = jws
        tampered.removeLast()
        tampered.append("Y")
        #expect(throws: TokenError.badSignature) { try rfc.verify(Array(tampered.utf8), now: 1_300_819_000) }
    }

    @Test func mintedTokensRoundTrip() throws {
        let text = verifier.mint(subject: "alice", role: .worker, ttl: 900, now: now)
        let principal = try verifier.verify(Array(text.utf8), now: now + 10)
        #expect(principal == Principal(subject: "alice", role: .worker, expiresAt: now + 900))
    }

    @Test func roleDefaultsToViewer() throws {
        let principal = try verifier.verify(Array(token(claims: #"{"sub":"bob","exp":1800000100}"#).utf8), now: now)
        #expect(principal.role == .viewer)
        #expect(principal.visibleOwner == "bob")
    }

    @Test(arguments: [
        #"{"alg":"none","typ":"JWT"}"#, #"{"alg":"HS512"}"#, #"{"alg":"RS256"}"#, #"{"alg":"hs256"}"#, #"{"alg":"HS256 "}"#,
    ])
    func everyAlgorithmButHS256IsRefused(_ header: String) {
        let text = token(header: header, claims: #"{"sub":"bob","exp":1800000100}"#)
        #expect(throws: TokenError.self) { try verifier.verify(Array(text.utf8), now: now) }
    }

    @Test func algNoneWithAnEmptySignatureIsRefused() {
        let text = Base64URL.encode(Array(#"{"alg":"none"}"#.utf8)) + "." + Base64URL.encode(Array(#"{"sub":"bob","exp":1800000100,"role":"admin"}"#.utf8)) + "."
        #expect(throws: TokenError.unsupportedAlgorithm("none")) { try verifier.verify(Array(text.utf8), now: now) }
    }

    @Test func anotherKeysSignatureIsRefused() {
        let text = token(claims: #"{"sub":"bob","exp":1800000100}"#, key: Array("another key of at least thirty-two bytes".utf8))
        #expect(throws: TokenError.badSignature) { try verifier.verify(Array(text.utf8), now: now) }
    }

    @Test func leewayIsSixtySecondsAtBothEnds() throws {
        let expiring = token(claims: #"{"sub":"bob","exp":1800000000}"#)
        _ = try verifier.verify(Array(expiring.utf8), now: now + 59.9)
        #expect(throws: TokenError.expired) { try verifier.verify(Array(expiring.utf8), now: now + 60) }
        let early = token(claims: #"{"sub":"bob","exp":1800009999,"nbf":1800000060}"#)
        _ = try verifier.verify(Array(early.utf8), now: now)
        #expect(throws: TokenError.notYetValid) { try verifier.verify(Array(early.utf8), now: now - 0.1) }
        let issuedLater = token(claims: #"{"sub":"bob","exp":1800009999,"iat":1800000061}"#)
        #expect(throws: TokenError.notYetValid) { try verifier.verify(Array(issuedLater.utf8), now: now) }
    }

    @Test(arguments: [
        #"{"exp":1800000100}"#,                                  // no sub
        #"{"sub":"","exp":1800000100}"#,                         // empty sub
        #"{"sub":"a/b","exp":1800000100}"#,                      // not an owner name
        #"{"sub":"bob"}"#,                                       // no exp
        #"{"sub":"bob","exp":"1800000100"}"#,                    // exp not a number
        #"{"sub":"bob","exp":1800000100,"role":"root"}"#,        // unknown role
        #"{"sub":"bob","exp":1800000100,"role":null}"#,
        #"{"sub":"bob","exp":1800000100,"nbf":"soon"}"#,
        #"{"sub":"bob","exp":1800000100,"sub":"alice"}"#,        // duplicate member
        #"["sub","bob"]"#, "not json",
    ])
    func badClaimsAreRefused(_ claims: String) {
        #expect(throws: TokenError.self) { try verifier.verify(Array(token(claims: claims).utf8), now: now) }
    }

    @Test(arguments: ["", "a.b", "a.b.c.d", "..", "e30.e30.", "!!!.e30.e30"])
    func malformedTokensAreRefused(_ text: String) {
        #expect(throws: TokenError.self) { try verifier.verify(Array(text.utf8), now: now) }
    }

    @Test func theTokenSizeIsBoundedAtTheLimit() {
        // At the limit the token is parsed (and refused for its shape); one byte past, it is not read at all.
        let atLimit = [UInt8](repeating: UInt8(ascii: "a"), count: TokenVerifier.maxTokenBytes)
        #expect(throws: TokenError.malformed("a JWS has three dot-separated parts, this has 1")) { try verifier.verify(atLimit, now: now) }
        #expect(throws: TokenError.malformed("longer than 8192 bytes")) { try verifier.verify(atLimit + [0x61], now: now) }
        // A real token with large claims still verifies.
        let big = token(claims: #"{"sub":"bob","exp":1800000100,"p":"\#(String(repeating: "x", count: 5000))"}"#)
        #expect((try? verifier.verify(Array(big.utf8), now: now)) != nil)
    }

    @Test func shortKeysAreRefused() {
        #expect(throws: AuthSecretError.tooShort(31)) { try TokenVerifier(key: [UInt8](repeating: 7, count: 31)) }
        #expect((try? TokenVerifier(key: [UInt8](repeating: 7, count: 32))) != nil)
    }

    @Test func trailingWhitespaceOfTheSecretIsIgnored() {
        #expect(AuthSecret.trimmed(Array("secret \t\r\n\n".utf8)) == Array("secret".utf8))
        #expect(AuthSecret.trimmed(Array(" sec ret".utf8)) == Array(" sec ret".utf8))
    }

    @Test func viewersMayCancelRetryAndDeleteOnly() {
        for action in ["cancel", "retry", "delete"] { #expect(Role.viewer.may(action: action)) }
        for action in ["create", "start", "progress", "heartbeat", "complete", "fail", "cancelled"] {
            #expect(!Role.viewer.may(action: action))
            #expect(Role.worker.may(action: action))
            #expect(Role.admin.may(action: action))
        }
    }
}

/// HMAC-SHA256 through the verifier's own signing, on an arbitrary signing input.
private func hmac(_ key: [UInt8], _ input: [UInt8]) -> [UInt8] {
    let signer = try! TokenVerifier(key: key)
    return signer.mac(forTesting: input[...])
}
