/// Encodes frames (RFC 6455 §5.2). Server frames are unmasked (§5.1); a mask key is only for
/// the client side (and tests that play the client).
public enum WebSocketFrameEncoder {
    /// RFC 6455 §5.5: a control frame payload is at most 125 bytes, so a close reason is at most
    /// 123 bytes after the 2-byte code.
    public static let maxCloseReasonBytes = WebSocketFrameDecoder.maxControlPayload - 2

    /// One whole frame. `maskKey`, when given, must be 4 bytes and masks the payload.
    public static func encode(
        opcode: WebSocketOpcode, payload: some Collection<UInt8>, fin: Bool = true, maskKey: [UInt8]? = nil
    ) -> [UInt8] {
        let count = payload.count
        var out = headerBytes(opcode: opcode, payloadLength: count, fin: fin, masked: maskKey != nil)
        guard let maskKey else {
            out.append(contentsOf: payload)
            return out
        }
        precondition(maskKey.count == 4, "a masking key is 4 bytes")
        out.append(contentsOf: maskKey)
        let start = out.count
        out.append(contentsOf: payload)
        let key = UInt32(maskKey[0]) | UInt32(maskKey[1]) << 8 | UInt32(maskKey[2]) << 16 | UInt32(maskKey[3]) << 24
        out.withUnsafeMutableBytes { raw in
            let region = UnsafeMutableRawBufferPointer(rebasing: raw[start...])
            WebSocketMasking.apply(key: key, phase: 0, from: UnsafeRawBufferPointer(region), to: region)
        }
        return out
    }

    /// The unmasked header of a server frame of `payloadLength` bytes, so one payload (a
    /// broadcast event) can be shared by many connections without copying.
    public static func header(opcode: WebSocketOpcode, payloadLength: Int, fin: Bool = true) -> [UInt8] {
        headerBytes(opcode: opcode, payloadLength: payloadLength, fin: fin, masked: false)
    }

    /// A close frame's payload: the code in network byte order, then the UTF-8 reason cut to
    /// 123 bytes at a character boundary (RFC 6455 §5.5.1, §5.5).
    public static func closePayload(code: UInt16, reason: String) -> [UInt8] {
        var out: [UInt8] = [UInt8(code >> 8), UInt8(code & 0xFF)]
        var bytes = Array(reason.utf8)
        if bytes.count > maxCloseReasonBytes {
            var end = maxCloseReasonBytes
            // bytes[end] is the first byte cut off; while it continues a character, cut that
            // character too.
            while end > 0 && bytes[end] & 0xC0 == 0x80 { end -= 1 }
            bytes.removeSubrange(end...)
        }
        out.append(contentsOf: bytes)
        return out
    }

    /// A whole unmasked close frame.
    public static func closeFrame(code: UInt16, reason: String = "") -> [UInt8] {
        encode(opcode: .close, payload: closePayload(code: code, reason: reason))
    }

    static func headerBytes(opcode: WebSocketOpcode, payloadLength: Int, fin: Bool, masked: Bool) -> [UInt8] {
        precondition(payloadLength >= 0)
        let maskBit: UInt8 = masked ? 0x80 : 0
        var out: [UInt8] = []
        out.reserveCapacity(14)
        out.append((fin ? 0x80 : 0) | opcode.rawValue)
        switch payloadLength {
        case 0...125:
            out.append(maskBit | UInt8(payloadLength))
        case 126...0xFFFF:
            out.append(maskBit | 126)
            out.append(UInt8(payloadLength >> 8))
            out.append(UInt8(payloadLength & 0xFF))
        default:
            out.append(maskBit | 127)
            let length = UInt64(payloadLength)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: length >> UInt64(shift))) }
        }
        return out
    }
}
