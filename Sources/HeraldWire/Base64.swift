/// Standard Base64 with padding (RFC 4648 §4), for `Sec-WebSocket-Key` and `-Accept`.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// 255 marks a byte outside the alphabet.
    private static let values: [UInt8] = {
        var v = [UInt8](repeating: 255, count: 256)
        for (i, c) in alphabet.enumerated() { v[Int(c)] = UInt8(i) }
        return v
    }()

    public static func encode(_ bytes: some Collection<UInt8>) -> String {
        let input = Array(bytes)
        var out: [UInt8] = []
        out.reserveCapacity((input.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= input.count {
            let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
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

    /// Strict decoding: length a multiple of 4, only alphabet characters, `=` only as the last
    /// one or two, and unused bits zero (RFC 4648 §3.5), so each byte string has exactly one
    /// accepted encoding. Nil otherwise (no whitespace, no URL-safe alphabet).
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let input = Array(text.utf8)
        guard input.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 4 * 3)
        var i = 0
        while i < input.count {
            let isLast = i + 4 == input.count
            var padding = 0
            if isLast {
                if input[i + 3] == UInt8(ascii: "=") { padding = input[i + 2] == UInt8(ascii: "=") ? 2 : 1 }
            }
            var n: UInt32 = 0
            for j in 0..<4 {
                let v: UInt8
                if j >= 4 - padding {
                    v = 0
                } else {
                    v = values[Int(input[i + j])]
                    if v == 255 { return nil }  // includes a stray "="
                }
                n = n << 6 | UInt32(v)
            }
            out.append(UInt8(n >> 16 & 0xFF))
            if padding < 2 { out.append(UInt8(n >> 8 & 0xFF)) }
            if padding < 1 { out.append(UInt8(n & 0xFF)) }
            // Non-canonical: bits that the padding says are unused must be zero.
            if padding == 2 && n & 0xFFFF != 0 { return nil }
            if padding == 1 && n & 0xFF != 0 { return nil }
            i += 4
        }
        return out
    }
}
