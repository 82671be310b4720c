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
        if let text = bytes.withContiguousStorageIfAvailable({ encode(UnsafeRawBufferPointer($0)) }) { return text }
        return Array(bytes).withUnsafeBytes { encode($0) }
    }

    /// The encoding written straight into the String's storage (no intermediate arrays: the
    /// handshake's accept key, 28 bytes, is made this way for every WebSocket).
    public static func encode(_ input: UnsafeRawBufferPointer) -> String {
        let length = (input.count + 2) / 3 * 4
        return alphabet.withUnsafeBufferPointer { alphabet in
            String(unsafeUninitializedCapacity: length) { out in
                // Sound: each full group of 3 input bytes writes 4 bytes at o, the last partial
                // group 4 more; `length` is exactly 4 per started group, so o + 4 ≤ length.
                var i = 0, o = 0
                while i + 3 <= input.count {
                    let n = UInt32(input[i]) << 16 | UInt32(input[i + 1]) << 8 | UInt32(input[i + 2])
                    out[o] = alphabet[Int(n >> 18 & 63)]
                    out[o + 1] = alphabet[Int(n >> 12 & 63)]
                    out[o + 2] = alphabet[Int(n >> 6 & 63)]
                    out[o + 3] = alphabet[Int(n & 63)]
                    i += 3
                    o += 4
                }
                let rest = input.count - i
                if rest > 0 {
                    let n = UInt32(input[i]) << 16 | (rest == 2 ? UInt32(input[i + 1]) << 8 : 0)
                    out[o] = alphabet[Int(n >> 18 & 63)]
                    out[o + 1] = alphabet[Int(n >> 12 & 63)]
                    out[o + 2] = rest == 2 ? alphabet[Int(n >> 6 & 63)] : UInt8(ascii: "=")
                    out[o + 3] = UInt8(ascii: "=")
                }
                return length
            }
        }
    }

    /// How many bytes `decode(text)` gives, or nil exactly when it gives nil, without making
    /// them (the handshake only needs to know that the key is the encoding of 16 bytes).
    public static func decodedCount(_ text: String) -> Int? {
        var text = text
        return text.withUTF8 { input -> Int? in
            var count = 0
            guard forEachQuantum(input, { _, padding in count += 3 - padding }) else { return nil }
            return count
        }
    }

    /// Strict decoding: length a multiple of 4, only alphabet characters, `=` only as the last
    /// one or two, and unused bits zero (RFC 4648 §3.5), so each byte string has exactly one
    /// accepted encoding. Nil otherwise (no whitespace, no URL-safe alphabet).
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let input = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(input.count / 4 * 3)
        let valid = input.withUnsafeBufferPointer { input in
            forEachQuantum(input) { n, padding in
                out.append(UInt8(n >> 16 & 0xFF))
                if padding < 2 { out.append(UInt8(n >> 8 & 0xFF)) }
                if padding < 1 { out.append(UInt8(n & 0xFF)) }
            }
        }
        return valid ? out : nil
    }

    /// The strict reading both share: each 4-character quantum's 24 bits and its padding (0–2,
    /// only in the last), in order; false at the first thing `decode` refuses (a length not a
    /// multiple of 4, a character outside the alphabet or a stray `=`, unused bits not zero).
    private static func forEachQuantum(_ input: UnsafeBufferPointer<UInt8>, _ body: (UInt32, Int) -> Void) -> Bool {
        guard input.count % 4 == 0 else { return false }
        var i = 0
        while i < input.count {
            var padding = 0
            if i + 4 == input.count, input[i + 3] == UInt8(ascii: "=") {
                padding = input[i + 2] == UInt8(ascii: "=") ? 2 : 1
            }
            var n: UInt32 = 0
            for j in 0..<4 {
                let v: UInt8
                if j >= 4 - padding {
                    v = 0
                } else {
                    v = values[Int(input[i + j])]
                    if v == 255 { return false }  // includes a stray "="
                }
                n = n << 6 | UInt32(v)
            }
            // Non-canonical: bits that the padding says are unused must be zero.
            if padding == 2 && n & 0xFFFF != 0 { return false }
            if padding == 1 && n & 0xFF != 0 { return false }
            body(n, padding)
            i += 4
        }
        return true
    }
}
