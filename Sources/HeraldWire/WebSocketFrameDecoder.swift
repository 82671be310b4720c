/// A frame header that has been read and checked (RFC 6455 §5.2) but whose payload may still
/// be on its way.
public struct WebSocketFrameHeader: Equatable, Sendable {
    public var fin: Bool
    public var rsv1: Bool
    public var rsv2: Bool
    public var rsv3: Bool
    public var opcode: WebSocketOpcode
    public var payloadLength: Int
    /// The masking key in wire order (key byte `i` is bits `8*i ..< 8*i+8`); nil when unmasked.
    public var maskKey: UInt32?
}

/// Decodes client frames from a byte stream (RFC 6455 §5). Pure: it only looks at the buffer.
///
/// Errors are found as early as the bytes allow, so a hostile peer cannot make us buffer much:
/// reserved bits, opcodes, missing masks and control-frame rules from the first two bytes, the
/// size limit from the length field, before any payload is buffered.
public struct WebSocketFrameDecoder: Sendable {
    public let maxFramePayload: Int
    public let requireMasked: Bool
    /// permessage-deflate was negotiated (RFC 7692 §6): RSV1 marks the first frame of a
    /// compressed message; it stays an error on control frames and continuations (§6.1).
    public var allowsCompressedFrames = false
    /// The header of the frame whose payload is still incomplete (its bytes are consumed).
    public private(set) var pendingHeader: WebSocketFrameHeader?

    /// RFC 6455 §5.5: all control frames have a payload of 125 bytes or less.
    public static let maxControlPayload = 125

    /// `requireMasked`: RFC 6455 §5.1, a server must fail the connection on an unmasked
    /// client frame. A client decoding server frames passes false.
    public init(maxFramePayload: Int, requireMasked: Bool = true) {
        precondition(maxFramePayload >= 0)
        self.maxFramePayload = maxFramePayload
        self.requireMasked = requireMasked
    }

    /// The next complete frame, or nil when more bytes are needed. Consumes what it decodes.
    public mutating func next(_ input: inout ByteBuffer) throws(WebSocketProtocolError) -> WebSocketFrame? {
        if pendingHeader == nil {
            guard let header = try readHeader(&input) else { return nil }
            pendingHeader = header
        }
        guard let header = pendingHeader, input.readableBytes >= header.payloadLength else { return nil }
        let payload = Self.payload(of: input, count: header.payloadLength, maskKey: header.maskKey, phase: 0)
        input.moveReaderIndex(forwardBy: header.payloadLength)
        pendingHeader = nil
        return WebSocketFrame(
            fin: header.fin, rsv1: header.rsv1, rsv2: header.rsv2, rsv3: header.rsv3,
            opcode: header.opcode, payload: payload)
    }

    /// How many payload bytes of the pending frame are already in `input`.
    public func pendingPayloadBytes(in input: ByteBuffer) -> Int {
        guard let header = pendingHeader else { return 0 }
        return min(input.readableBytes, header.payloadLength)
    }

    /// The pending frame's payload bytes that have arrived, from `offset` on, unmasked; without
    /// consuming them. Lets a caller look at a large frame while it streams in (UTF-8 fail-fast).
    public func partialPayload(in input: ByteBuffer, from offset: Int) -> [UInt8] {
        guard let header = pendingHeader else { return [] }
        let end = min(input.readableBytes, header.payloadLength)
        guard offset < end else { return [] }
        var view = input
        view.moveReaderIndex(forwardBy: offset)
        return Self.payload(of: view, count: end - offset, maskKey: header.maskKey, phase: offset & 3)
    }

    // MARK: - Header

    private func readHeader(_ input: inout ByteBuffer) throws(WebSocketProtocolError) -> WebSocketFrameHeader? {
        guard let b0 = input.peek(at: 0), let b1 = input.peek(at: 1) else { return nil }

        // RFC 6455 §5.2: RSV1–3 must be 0 unless an extension defining them was negotiated
        // (permessage-deflate's RSV1: `allowsCompressedFrames`).
        if b0 & 0x30 != 0 || (b0 & 0x40 != 0 && !allowsCompressedFrames) { throw .protocolError("reserved bits set") }
        guard let opcode = WebSocketOpcode(rawValue: b0 & 0x0F) else {
            throw .protocolError("reserved opcode \(b0 & 0x0F)")
        }
        if b0 & 0x40 != 0 && opcode.isControl { throw .protocolError("compressed control frame") }
        if b0 & 0x40 != 0 && opcode == .continuation { throw .protocolError("RSV1 set on a continuation frame") }
        let fin = b0 & 0x80 != 0
        let masked = b1 & 0x80 != 0
        let length7 = Int(b1 & 0x7F)
        if opcode.isControl {
            // RFC 6455 §5.5: control frames must not be fragmented and carry ≤ 125 bytes.
            if !fin { throw .protocolError("fragmented control frame") }
            if length7 > Self.maxControlPayload { throw .protocolError("control frame too long") }
        }
        if requireMasked && !masked { throw .protocolError("client frame not masked") }

        let lengthBytes = length7 == 127 ? 8 : (length7 == 126 ? 2 : 0)
        let headerSize = 2 + lengthBytes + (masked ? 4 : 0)
        guard input.readableBytes >= headerSize else {
            // Fail on an oversized length as soon as the length field is in, without the mask.
            if input.readableBytes >= 2 + lengthBytes {
                _ = try payloadLength(input, length7: length7, lengthBytes: lengthBytes)
            }
            return nil
        }
        let length = try payloadLength(input, length7: length7, lengthBytes: lengthBytes)

        var maskKey: UInt32?
        if masked {
            let at = 2 + lengthBytes
            var key: UInt32 = 0
            for i in 0..<4 { key |= UInt32(input.peek(at: at + i)!) << (8 * i) }
            maskKey = key
        }
        input.moveReaderIndex(forwardBy: headerSize)
        return WebSocketFrameHeader(
            fin: fin, rsv1: b0 & 0x40 != 0, rsv2: b0 & 0x20 != 0, rsv3: b0 & 0x10 != 0,
            opcode: opcode, payloadLength: length, maskKey: maskKey)
    }

    /// RFC 6455 §5.2: 7-bit, 16-bit or 64-bit length, network byte order. A non-minimal
    /// encoding is accepted (the RFC says "the minimal number of bytes MUST be used", but
    /// rejecting it buys nothing); a 64-bit length with the most significant bit set is not.
    private func payloadLength(_ input: ByteBuffer, length7: Int, lengthBytes: Int) throws(WebSocketProtocolError) -> Int {
        var length: UInt64 = UInt64(length7)
        if lengthBytes > 0 {
            length = 0
            for i in 0..<lengthBytes { length = length << 8 | UInt64(input.peek(at: 2 + i)!) }
            if length & (1 << 63) != 0 { throw .protocolError("64-bit length with the high bit set") }
        }
        if length > UInt64(maxFramePayload) {
            throw .messageTooBig("frame of \(length) bytes exceeds \(maxFramePayload)")
        }
        return Int(length)
    }

    // MARK: - Payload

    /// The first `count` readable bytes of `input`, unmasked with `maskKey` starting at key
    /// byte `phase`.
    static func payload(of input: ByteBuffer, count: Int, maskKey: UInt32?, phase: Int) -> [UInt8] {
        let view = input.readableView
        let slice = view[view.startIndex..<(view.startIndex + count)]
        guard let maskKey else { return Array(slice) }
        return [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            slice.withUnsafeBytes { src in
                WebSocketMasking.apply(
                    key: maskKey, phase: phase, from: src, to: UnsafeMutableRawBufferPointer(out))
            }
            initialized = count
        }
    }
}

/// XOR masking (RFC 6455 §5.3), eight bytes at a time: this runs over every byte a client sends.
enum WebSocketMasking {
    /// Writes `src[i] ^ key[(phase + i) % 4]` to `dst[i]`. `dst` may alias `src`.
    static func apply(key: UInt32, phase: Int, from src: UnsafeRawBufferPointer, to dst: UnsafeMutableRawBufferPointer) {
        let count = src.count
        precondition(dst.count >= count)
        guard count > 0 else { return }
        // Rotate so that key byte `phase` comes first, then repeat it to fill a word whose
        // in-memory byte order is the key's wire order.
        let shift = UInt32((phase & 3) * 8)
        let rotated = shift == 0 ? key : (key >> shift) | (key << (32 - shift))
        let word = UInt64(littleEndian: UInt64(rotated) | UInt64(rotated) << 32)
        var i = 0
        while i + 8 <= count {
            let v = src.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ word
            dst.storeBytes(of: v, toByteOffset: i, as: UInt64.self)
            i += 8
        }
        // Fewer than 8 bytes left; `i` is a multiple of 8, so the key phase is unchanged.
        var k = rotated
        while i < count {
            dst[i] = src[i] ^ UInt8(truncatingIfNeeded: k)
            k = k >> 8 | k << 24
            i += 1
        }
    }
}
