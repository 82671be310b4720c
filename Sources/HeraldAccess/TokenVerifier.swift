import CHeraldSSL
import HeraldTasks
import HeraldWire

/// Verifies JWTs (RFC 7519) signed with HS256 and nothing else (contract v2, "Access"), and
/// mints them for `herald token`. Strict on purpose: `alg` must be exactly HS256 and is checked
/// before any MAC is computed (no `none`, no HS512, no RS256 with the key as a "public key");
/// segments must be canonical base64url; duplicate JSON keys are refused (two parsers could
/// read different claims); the MAC is compared in constant time (CRYPTO_memcmp).
///
/// A minimal verifier on OpenSSL's HMAC rather than vapor/jwt-kit: jwt-kit v5 verifies through
/// an actor (`await`), and Herald checks tokens synchronously on the event loop before the
/// 101 — see docs/architecture.md ("Access") for the measured costs.
public struct TokenVerifier: Sendable {
    /// RFC 7518 §3.2: an HS256 key must be at least as long as the hash (32 bytes).
    public static let minimumKeyBytes = 32
    /// The contract allows at most 60 s of clock skew; applied to `exp`, `nbf` and `iat`.
    public static let defaultLeeway = 60.0
    /// A token is a few hundred bytes; 8 KiB leaves room for large claims and bounds the work.
    public static let maxTokenBytes = 8 * 1024

    private let key: [UInt8]
    public let leeway: Double

    public init(key: [UInt8], leeway: Double = TokenVerifier.defaultLeeway) throws(AuthSecretError) {
        guard key.count >= Self.minimumKeyBytes else { throw .tooShort(key.count) }
        self.key = key
        self.leeway = min(max(0, leeway), Self.defaultLeeway)
    }

    /// The principal `token` stands for at `now` (Unix seconds), or why it is refused.
    public func verify(_ token: some Collection<UInt8>, now: Double) throws(TokenError) -> Principal {
        let bytes = Array(token)
        guard bytes.count <= Self.maxTokenBytes else { throw .malformed("longer than \(Self.maxTokenBytes) bytes") }
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformed("a JWS has three dot-separated parts, this has \(parts.count)") }
        let header = try Self.object(parts[0], what: "header")
        guard case .string(let alg)? = header["alg"] else { throw .malformed("the header has no alg") }
        guard alg == "HS256" else { throw .unsupportedAlgorithm(alg) }
        if let typ = header["typ"] {
            guard let text = typ.stringValue, text.uppercased() == "JWT" else { throw .malformed("typ must be JWT") }
        }
        // RFC 7515 §4.1.11: extensions we do not understand must not be ignored.
        guard header["crit"] == nil else { throw .malformed("crit extensions are not supported") }

        let signingInput = bytes[..<(parts[0].count + 1 + parts[1].count)]
        guard let signature = Base64URL.decode(parts[2]), signature.count == 32 else { throw .badSignature }
        guard let expected = mac(signingInput), ConstantTime.equal(expected, signature) else { throw .badSignature }

        return try principal(from: try Self.object(parts[1], what: "payload"), now: now)
    }

    private func principal(from claims: JSONObject, now: Double) throws(TokenError) -> Principal {
        guard case .string(let sub)? = claims["sub"], TaskValidation.isValidOwner(sub) else {
            throw .invalidClaim("sub must be an owner name: 1–64 characters of A–Z a–z 0–9 . _ -")
        }
        guard let exp = Self.numericDate(claims["exp"]) else { throw .invalidClaim("exp must be a NumericDate") }
        var role = Role.viewer
        if let value = claims["role"] {
            guard let text = value.stringValue, let parsed = Role(rawValue: text) else {
                throw .invalidClaim("role must be viewer, worker or admin")
            }
            role = parsed
        }
        for name in ["nbf", "iat"] where claims[name] != nil && Self.numericDate(claims[name]) == nil {
            throw .invalidClaim("\(name) must be a NumericDate")
        }
        guard now < exp + leeway else { throw .expired }
        if let nbf = Self.numericDate(claims["nbf"]), now < nbf - leeway { throw .notYetValid }
        if let iat = Self.numericDate(claims["iat"]), iat > now + leeway { throw .notYetValid }
        return Principal(subject: sub, role: role, expiresAt: exp)
    }

    /// A signed token for `claims` (`herald token`, tests). The claims are written as given.
    public func sign(_ claims: JSONObject) -> String {
        let header = Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8))
        let payload = Base64URL.encode(JSONWriter.encode(.object(claims)))
        let input = Array("\(header).\(payload)".utf8)
        return "\(header).\(payload).\(Base64URL.encode(mac(input[...]) ?? []))"
    }

    /// The usual claims: `sub`, `role`, `iat` now and `exp` after `ttl` seconds.
    public func mint(subject: String, role: Role, ttl: Double, now: Double) -> String {
        let iat = Int(now.rounded(.down))
        return sign(["sub": .string(subject), "role": .string(role.rawValue), "iat": JSONValue(iat),
                     "exp": JSONValue(iat + Int(ttl.rounded(.up)))])
    }

    // MARK: Pieces

    private func mac(_ input: ArraySlice<UInt8>) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: 32)
        let ok = key.withUnsafeBytes { k in
            input.withUnsafeBufferPointer { d in
                herald_ssl_hmac_sha256(k.baseAddress, k.count, d.baseAddress, d.count, &out)
            }
        }
        return ok == 1 ? out : nil
    }

    func mac(forTesting input: ArraySlice<UInt8>) -> [UInt8] { mac(input) ?? [] }

    private static func object(_ segment: ArraySlice<UInt8>, what: String) throws(TokenError) -> JSONObject {
        guard let json = Base64URL.decode(segment) else { throw .malformed("the \(what) is not base64url") }
        guard let value = try? JSONParser.parse(json), case .object(let object) = value else {
            throw .malformed("the \(what) is not a JSON object")
        }
        guard !object.hasDuplicateKeys else { throw .malformed("the \(what) repeats a member name") }
        return object
    }

    /// RFC 7519 §2: seconds since the epoch, possibly fractional.
    private static func numericDate(_ value: JSONValue?) -> Double? {
        guard let number = value?.numberValue, number.isFinite else { return nil }
        return number
    }
}
