import CHeraldSSL

/// Comparing secrets (a MAC, the publish token) without stopping at the first differing byte,
/// so the time taken says nothing about how much of a guess was right.
public enum ConstantTime {
    /// Equal lengths are compared in full by OpenSSL's `CRYPTO_memcmp`; different lengths are
    /// unequal (a length is no secret worth guarding: a MAC is 32 bytes, a token's length shows
    /// on the wire).
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in herald_ssl_memcmp(x.baseAddress, y.baseAddress, x.count) == 0 } }
    }
}
