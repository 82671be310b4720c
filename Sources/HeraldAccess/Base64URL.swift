/// Base64url without padding (RFC 7515 §2, RFC 4648 §5): how JWS segments are written.
/// Decoding is strict, so each byte string has exactly one accepted encoding: no padding, no
/// whitespace, no standard-alphabet `+`/`/`, and unused trailing bits zero.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// 255 marks a byte outside the alphabet.
    private static let values: [UInt8] = {
        var v = [UInt8](repeating: 255, count: 256)
        for (i, c) in alphabet.enumerated() { v[Int(c)] = UInt8(i) }
        return v
    }()

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((input.count * 4 + 2) / 3)
        var i = 0
        while i + 3 <= input.count {
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            for shift in [18, 12, 6, 0] as [UInt32] { out.append(alphabet[Int(n >> shift & 63)]) }
            i += 3
        }
        let rest = input.count - i
        if rest > 0 {
            let n = UInt32(input[i]) << 16 | (rest == 2 ? UInt32(input[i + 1]) << 8 : 0)
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            if rest == 2 { out.append(alphabet[Int(n >> 6 & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Nil for anything but canonical unpadded base64url.
    public static func decode(_ input: some Collection<UInt8>) -> [UInt8]? {
        let input = Array(input)
        guard input.count % 4 != 1 else { return nil }  // one leftover character carries < 8 bits
        var out: [UInt8] = []
        out.reserveCapacity(input.count * 3 / 4)
        var n: UInt32 = 0
        var bits = 0
        for c in input {
            let v = values[Int(c)]
            if v == 255 { return nil }
            n = n << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(n >> UInt32(bits) & 0xFF))
            }
        }
        // RFC 4648 §3.5: the bits left over must be zero.
        if bits > 0 && n & ((1 << UInt32(bits)) - 1) != 0 { return nil }
        return out
    }
}
