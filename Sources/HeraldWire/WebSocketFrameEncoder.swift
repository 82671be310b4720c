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
        withUnsafeTemporaryAllocation(byteCount: maxHeaderCount, alignment: 1) { buffer in
            let count = writeHeader(opcode: opcode, payloadLength: payloadLength, fin: fin, masked: masked, to: buffer.baseAddress!)
            return Array(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
    }

    /// The longest header without a masking key: 2 bytes, then a 64-bit length.
    public static let maxHeaderCount = 10

    /// Bytes of the header (without a masking key) of a frame of `payloadLength` bytes.
    public static func headerCount(payloadLength: Int) -> Int {
        payloadLength <= 125 ? 2 : payloadLength <= 0xFFFF ? 4 : 10
    }

    /// Writes the header (without a masking key) at `out`, which has room for
    /// `headerCount(payloadLength:)` bytes, and returns that count: a fan-out frame is built
    /// in place, where a header array was an allocation per published message (S2).
    public static func writeHeader(
        opcode: WebSocketOpcode, payloadLength: Int, fin: Bool = true, masked: Bool = false, to out: UnsafeMutableRawPointer
    ) -> Int {
        precondition(payloadLength >= 0)
        let maskBit: UInt8 = masked ? 0x80 : 0
        out.storeBytes(of: (fin ? 0x80 : 0) | opcode.rawValue, as: UInt8.self)
        switch payloadLength {
        case 0...125:
            out.storeBytes(of: maskBit | UInt8(payloadLength), toByteOffset: 1, as: UInt8.self)
            return 2
        case 126...0xFFFF:
            out.storeBytes(of: maskBit | 126, toByteOffset: 1, as: UInt8.self)
            out.storeBytes(of: UInt16(payloadLength).bigEndian, toByteOffset: 2, as: UInt16.self)
            return 4
        default:
            out.storeBytes(of: maskBit | 127, toByteOffset: 1, as: UInt8.self)
            out.storeBytes(of: UInt64(payloadLength).bigEndian, toByteOffset: 2, as: UInt64.self)
            return 10
        }
    }
}
