import CHeraldZlib
import HeraldLoop
import HeraldWire

/// The loop's compressors for permessage-deflate, one per window size in use (usually one,
/// 15 bits), made on first use. Every message is compressed without context takeover and the
/// stream reset after it, so connections share them and an idle one holds no zlib state.
final class MessageDeflaters {
    private var byWindowBits: [Int: MessageDeflater] = [:]

    /// Messages shorter than this go uncompressed (RSV1 clear, RFC 7692 §6 lets each message
    /// choose): without context takeover a few dozen bytes of JSON gain nothing.
    static let minimumSize = 64

    /// From this size on a message is compressed at zlib's fastest level. A `tasks` snapshot of
    /// 10,000 running tasks (5.5 MB of JSON) took 26.5 ms at the default level 6 and takes 8.6
    /// at level 1, for 278 KB instead of 208 KB (still 1/20 of the JSON); events, a few hundred
    /// bytes each, keep the default level, where the difference in time is small.
    static let fastFromSize = 64 * 1024
    static let fastLevel: Int32 = 1

    /// `payload` compressed for a peer that accepts `windowBits`, or nil when it is too short
    /// to gain or did not shrink.
    func compress(_ payload: [UInt8], windowBits: Int) -> [UInt8]? {
        guard payload.count >= Self.minimumSize else { return nil }
        let deflater = byWindowBits[windowBits] ?? {
            let made = MessageDeflater(windowBits: windowBits)
            byWindowBits[windowBits] = made
            return made
        }()
        let compressed = deflater.compress(payload, level: payload.count >= Self.fastFromSize ? Self.fastLevel : Z_DEFAULT_COMPRESSION)
        return compressed.count < payload.count ? compressed : nil
    }

    /// One unmasked frame of `payload`, with RSV1 set when it is `compressed` (RFC 7692 §6).
    static func frame(opcode: WebSocketOpcode, payload: [UInt8], compressed: Bool) -> SharedBytes {
        let headerCount = WebSocketFrameEncoder.headerCount(payloadLength: payload.count)
        return SharedBytes(count: headerCount + payload.count) { buffer in
            _ = WebSocketFrameEncoder.writeHeader(opcode: opcode, payloadLength: payload.count, to: buffer.baseAddress!)
            if compressed { buffer[0] |= 0x40 }  // RSV1: the payload is deflated (RFC 7692 §6)
            payload.withUnsafeBytes { bytes in
                if bytes.count > 0 { (buffer.baseAddress! + headerCount).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
            }
        }
    }
}
