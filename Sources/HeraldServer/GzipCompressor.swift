import CHeraldZlib

/// One-shot gzip (RFC 1952) with zlib: the static file server compresses a file once and
/// caches the result, so a simple whole-buffer API is all it needs.
public enum GzipCompressor {
    /// zlib's own default: nearly the ratio of level 9 at a fraction of the CPU.
    public static let defaultLevel: Int32 = 6
    /// 15 = a 32 KiB window (the maximum); +16 asks zlib for the gzip wrapper (zlib.h).
    static let gzipWindowBits: Int32 = 15 + 16
    /// zlib's default memory level (zlib.h): 128 KiB of deflate state.
    static let memoryLevel: Int32 = 8
    /// zlib counts in `uInt` (32 bits): larger buffers are fed in slices of this size.
    static let maxSlice = Int(UInt32.max)

    /// `bytes` as a gzip member. zlib only fails here when it cannot allocate its state, and
    /// then the process is out of memory anyway: that traps. Use `compress` to get nil instead.
    public static func gzip(_ bytes: [UInt8], level: Int32 = defaultLevel) -> [UInt8] {
        guard let out = compress(bytes, level: level) else { fatalError("zlib deflateInit2 failed (out of memory)") }
        return out
    }

    /// `bytes` as a gzip member, or nil when zlib fails.
    public static func compress(_ bytes: [UInt8], level: Int32 = defaultLevel) -> [UInt8]? {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        // zlib keeps a pointer back to the stream and checks it: the stream must not move,
        // so it lives on the heap rather than in a Swift `var`.
        stream.initialize(to: z_stream())
        defer { stream.deinitialize(count: 1); stream.deallocate() }
        guard herald_zlib_deflate_init2(stream, level, gzipWindowBits, memoryLevel) == Z_OK else { return nil }
        defer { deflateEnd(stream) }
        let bound = Int(deflateBound(stream, uLong(bytes.count)))
        return run(stream, input: bytes, initialCapacity: bound) { deflate($0, $1 ? Z_FINISH : Z_NO_FLUSH) }
    }

    /// Decompresses one gzip member; nil when the data is not gzip, is corrupt or truncated,
    /// has bytes after the member, or would inflate past `maxOutputBytes` (a zip bomb).
    public static func gunzip(_ bytes: [UInt8], maxOutputBytes: Int = 256 * 1024 * 1024) -> [UInt8]? {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deinitialize(count: 1); stream.deallocate() }
        guard herald_zlib_inflate_init2(stream, gzipWindowBits) == Z_OK else { return nil }
        defer { inflateEnd(stream) }
        let capacity = min(max(bytes.count * 4, 1024), maxOutputBytes)
        guard let out = run(stream, input: bytes, initialCapacity: capacity, maxOutput: maxOutputBytes, { inflate($0, $1 ? Z_FINISH : Z_NO_FLUSH) }),
              stream.pointee.avail_in == 0
        else { return nil }
        return out
    }

    /// Feeds `input` through `step` (deflate or inflate) until it reports the end of the
    /// stream, growing the output as needed. `step`'s Bool says all input has been given.
    private static func run(
        _ stream: UnsafeMutablePointer<z_stream>, input: [UInt8], initialCapacity: Int,
        maxOutput: Int = .max, _ step: (UnsafeMutablePointer<z_stream>, Bool) -> Int32
    ) -> [UInt8]? {
        input.withUnsafeBufferPointer { inBuf -> [UInt8]? in
            var output = [UInt8](repeating: 0, count: max(initialCapacity, 64))
            var consumed = 0
            var produced = 0
            while true {
                let slice = min(inBuf.count - consumed, maxSlice)
                let last = consumed + slice == inBuf.count
                stream.pointee.next_in = inBuf.baseAddress.map { UnsafeMutablePointer(mutating: $0 + consumed) }
                stream.pointee.avail_in = uInt(slice)
                if produced == output.count {
                    guard output.count < maxOutput else { return nil }
                    output.append(contentsOf: repeatElement(0, count: min(output.count, maxOutput - output.count)))
                }
                let rc = output.withUnsafeMutableBufferPointer { outBuf -> Int32 in
                    let room = min(outBuf.count - produced, maxSlice)
                    stream.pointee.next_out = outBuf.baseAddress! + produced
                    stream.pointee.avail_out = uInt(room)
                    let rc = step(stream, last)
                    produced += room - Int(stream.pointee.avail_out)
                    return rc
                }
                consumed += slice - Int(stream.pointee.avail_in)
                switch rc {
                case Z_STREAM_END:
                    output.removeSubrange(produced...)
                    stream.pointee.avail_in = uInt(inBuf.count - consumed)  // left over, for the caller
                    return output
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    // No progress: fine when the output was full (it grows next turn); with room
                    // left, all input has been given and the stream is truncated.
                    if produced < output.count { return nil }
                default:
                    return nil  // Z_DATA_ERROR, Z_MEM_ERROR, Z_STREAM_ERROR, Z_NEED_DICT
                }
            }
        }
    }
}
