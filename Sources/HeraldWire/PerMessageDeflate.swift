import CHeraldZlib
#if canImport(Glibc)
import Glibc
#endif

/// The payload transform of permessage-deflate (RFC 7692 §7.2), without context takeover in
/// either direction: raw DEFLATE, sync-flushed, with the final `00 00 ff ff` removed.
public enum PerMessageDeflate {
    /// §7.2.1: the four octets a sync flush ends with, removed by the sender, re-appended on receipt.
    static let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]
    /// Output is produced in chunks this big, so a small message never allocates much.
    static let chunk = 16 * 1024

    /// The message inside a compressed payload (§7.2.2), at most `cap` bytes. A message that
    /// would inflate past `cap` throws 1009 as soon as the cap is passed (a decompression bomb
    /// costs `cap` bytes, never more); a payload that is not DEFLATE throws 1007.
    ///
    /// Each call uses a fresh stream with a 15-bit window, which reads every window size a
    /// client may use (§7.1.2.2); it is freed before returning. Also the fuzz entry point.
    public static func inflate(message compressed: [UInt8], cap: Int) throws(WebSocketProtocolError) -> [UInt8] {
        precondition(cap >= 0)
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deallocate() }
        guard herald_zlib_inflate_init2(stream, -15) == Z_OK else {
            throw .init(closeCode: WebSocketCloseCode.internalError, reason: "inflate unavailable")
        }
        defer { inflateEnd(stream) }

        let input = compressed + tail
        var output = ZlibOutput()
        var status = Z_OK
        // The input is only touched by zlib inside the closure that pins it.
        input.withUnsafeBufferPointer { source in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.pointee.avail_in = uInt(source.count)
            while status == Z_OK {
                // One byte past the cap is enough to know the message is too big.
                let room = min(chunk, cap + 1 - output.count)
                stream.pointee.next_out = output.reserve(room)
                stream.pointee.avail_out = uInt(room)
                status = CHeraldZlib.inflate(stream, Z_SYNC_FLUSH)
                output.count += room - Int(stream.pointee.avail_out)
                if output.count > cap { return }
                // Everything was read and the output had room: the message is complete.
                if status == Z_OK && stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return }
                // Z_BUF_ERROR: no progress possible, so the input is used up.
                if status == Z_BUF_ERROR && stream.pointee.avail_in == 0 { status = Z_STREAM_END }
            }
        }
        if output.count > cap { throw .messageTooBig("inflated message exceeds \(cap) bytes") }
        guard status == Z_OK || status == Z_STREAM_END else {
            throw .invalidPayload("compressed payload is not valid DEFLATE")
        }
        return output.bytes
    }
}

/// zlib's output: a growing malloc'd buffer, copied into an array once at the end (growing an
/// array chunk by chunk costs a per-byte loop in debug builds, which run Autobahn).
struct ZlibOutput: ~Copyable {
    private var base: UnsafeMutablePointer<UInt8>?
    private var capacity = 0
    var count = 0

    /// Room for `room` more bytes after `count`; valid until the next call.
    mutating func reserve(_ room: Int) -> UnsafeMutablePointer<UInt8> {
        if count + room > capacity {
            capacity = max(count + room, capacity * 2)
            // realloc keeps the bytes so far; failure to allocate is fatal, as for any array.
            guard let grown = realloc(base, capacity) else { fatalError("out of memory") }
            base = grown.assumingMemoryBound(to: UInt8.self)
        }
        return base! + count
    }

    var bytes: [UInt8] { base.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? [] }

    deinit { free(base) }
}

/// A raw-DEFLATE compressor for whole messages without context takeover (RFC 7692 §7.2.1): it
/// is reset after each message, so one per loop and window size serves every connection.
/// Not thread-safe: a loop's own.
public final class MessageDeflater {
    public let windowBits: Int
    private let stream: UnsafeMutablePointer<z_stream>
    /// The level the stream compresses at now (`compress(_:level:)` changes it between messages).
    private var level: Int32

    /// `windowBits` 8–15. zlib refuses 8 for raw DEFLATE and uses 9, which is still correct for
    /// a peer that asked for 8: zlib never emits a distance beyond the window minus 262 bytes
    /// (MAX_DIST), 250 for a 512-byte window, within the 256 bytes the peer keeps.
    public init(windowBits: Int = 15, level: Int32 = Z_DEFAULT_COMPRESSION) {
        precondition((8...15).contains(windowBits))
        self.windowBits = windowBits
        self.level = level
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = herald_zlib_deflate_init2(stream, level, -Int32(max(9, windowBits)), 8)
        precondition(status == Z_OK, "deflateInit2 failed: \(status)")
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
    }

    /// The compressed payload of one message (the sync flush's tail removed), at `level` when
    /// given (kept for the messages after it).
    public func compress(_ message: [UInt8], level: Int32? = nil) -> [UInt8] {
        if let level, level != self.level {
            // Between messages (the stream was reset, nothing is pending): only the parameters change.
            let status = deflateParams(stream, level, Z_DEFAULT_STRATEGY)
            precondition(status == Z_OK, "deflateParams failed: \(status)")
            self.level = level
        }
        defer { deflateReset(stream) }
        var output = ZlibOutput()
        message.withUnsafeBufferPointer { source in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.pointee.avail_in = uInt(source.count)
            // deflateBound is for a finished stream; a sync flush adds a few bytes more.
            var room = Int(deflateBound(stream, uLong(source.count))) + 16
            repeat {
                stream.pointee.next_out = output.reserve(room)
                stream.pointee.avail_out = uInt(room)
                _ = deflate(stream, Z_SYNC_FLUSH)  // cannot fail on a valid stream with room
                output.count += room - Int(stream.pointee.avail_out)
                room = PerMessageDeflate.chunk
            } while stream.pointee.avail_out == 0
        }
        var bytes = output.bytes
        if bytes.count >= 4 && bytes[(bytes.count - 4)...].elementsEqual(PerMessageDeflate.tail) { bytes.removeLast(4) }
        return bytes
    }
}
