/// Decodes the broker protocol's frames from a Unix stream socket's bytes. Pure: it only looks
/// at the buffer.
///
/// Wire format: a 4-byte big-endian length N, then N bytes: 1 type byte and N − 1 payload
/// bytes. Integers are big-endian; a string is a u32 length and that many UTF-8 bytes.
/// The length is checked as soon as its 4 bytes are in and the type as soon as its byte is in,
/// so a bad peer is failed before any payload is buffered.
public struct BrokerFrameDecoder: Sendable {
    public let maxFrameBytes: Int
    /// Set by the first error; every later call throws it again (the stream has lost its
    /// frame boundaries, so nothing after it can be trusted).
    public private(set) var failure: BrokerFrameError?

    public init(maxFrameBytes: Int = BrokerFrame.maxFrameBytes) {
        precondition(maxFrameBytes >= 1 && UInt64(maxFrameBytes) <= UInt64(UInt32.max))
        self.maxFrameBytes = maxFrameBytes
    }

    /// The next complete frame, or nil when more bytes are needed. Consumes exactly the bytes
    /// of the frame it returns, and nothing when it returns nil.
    public mutating func next(_ input: inout ByteBuffer) throws(BrokerFrameError) -> BrokerFrame? {
        if let failure { throw failure }
        do {
            return try decode(&input)
        } catch {
            failure = error
            throw error
        }
    }

    private func decode(_ input: inout ByteBuffer) throws(BrokerFrameError) -> BrokerFrame? {
        let prefix = BrokerFrame.lengthPrefixBytes
        guard input.readableBytes >= prefix else { return nil }
        var length = 0
        for i in 0..<prefix { length = length << 8 | Int(input.peek(at: i)!) }
        // N counts the type byte, so every frame has N ≥ 1.
        if length == 0 { throw BrokerFrameError("frame length 0 (a frame has at least its type byte)") }
        if length > maxFrameBytes {
            throw BrokerFrameError("frame of \(length) bytes exceeds the limit of \(maxFrameBytes)")
        }
        guard let typeByte = input.peek(at: prefix) else { return nil }
        guard let type = BrokerFrameType(rawValue: typeByte) else {
            throw BrokerFrameError("unknown frame type \(typeByte)")
        }
        guard input.readableBytes >= prefix + length else { return nil }

        let view = input.readableView
        let start = view.startIndex + prefix + 1
        var reader = BrokerPayloadReader(bytes: view[start..<(start + length - 1)], type: type)
        let frame = try Self.fields(of: type, &reader)
        input.moveReaderIndex(forwardBy: prefix + length)
        return frame
    }

    private static func fields(of type: BrokerFrameType, _ r: inout BrokerPayloadReader) throws(BrokerFrameError) -> BrokerFrame {
        let frame: BrokerFrame
        switch type {
        case .hello:
            frame = .hello(
                version: try r.u16("version"), processName: try r.string("process name"),
                lastSeq: try r.u64("last seq"), epoch: try r.string("epoch"))
        case .welcome:
            frame = .welcome(version: try r.u16("version"), epoch: try r.string("epoch"), currentSeq: try r.u64("current seq"))
        case .refuse:
            frame = .refuse(reason: try r.string("reason"))
        case .requests:
            // The opaque part runs to the end of the frame: the length prefix already bounds it.
            return .requests(batchID: try r.u64("batch id"), payload: r.rest())
        case .outputs:
            return .outputs(batchID: try r.u64("batch id"), payload: r.rest())
        case .events:
            return .events(payload: r.rest())
        case .ping:
            frame = .ping(token: try r.u64("token"))
        case .pong:
            frame = .pong(token: try r.u64("token"))
        case .resync:
            return .resync(snapshot: r.rest())
        }
        // A fixed-layout frame with bytes left over was written by something that does not
        // speak this version; reject it rather than guess what the bytes meant.
        if r.remaining > 0 {
            throw BrokerFrameError("\(type.name) frame has \(r.remaining) trailing bytes after its last field")
        }
        return frame
    }
}

/// Reads payload fields in order; every read names the field, so a short payload fails with
/// "hello frame ends inside its epoch". Used for frames and for the batches inside them.
public struct BrokerPayloadReader {
    private let bytes: ArraySlice<UInt8>
    private var index: Int
    /// What is being read, for messages ("hello frame", "requests payload").
    public let context: String

    public init(bytes: ArraySlice<UInt8>, context: String) {
        self.bytes = bytes
        self.index = bytes.startIndex
        self.context = context
    }

    init(bytes: ArraySlice<UInt8>, type: BrokerFrameType) {
        self.init(bytes: bytes, context: "\(type.name) frame")
    }

    public var remaining: Int { bytes.endIndex - index }

    public mutating func u8(_ field: String) throws(BrokerFrameError) -> UInt8 {
        UInt8(try unsigned(1, field))
    }

    public mutating func u16(_ field: String) throws(BrokerFrameError) -> UInt16 {
        UInt16(try unsigned(2, field))
    }

    public mutating func u32(_ field: String) throws(BrokerFrameError) -> UInt32 {
        UInt32(try unsigned(4, field))
    }

    public mutating func u64(_ field: String) throws(BrokerFrameError) -> UInt64 {
        try unsigned(8, field)
    }

    public mutating func double(_ field: String) throws(BrokerFrameError) -> Double {
        Double(bitPattern: try unsigned(8, field))
    }

    public mutating func bool(_ field: String) throws(BrokerFrameError) -> Bool {
        switch try u8(field) {
        case 0: return false
        case 1: return true
        default: throw BrokerFrameError("\(context)'s \(field) is not a boolean")
        }
    }

    /// A u32 length, then that many raw bytes.
    public mutating func bytes(_ field: String) throws(BrokerFrameError) -> [UInt8] {
        Array(try slice(field))
    }

    /// A u32 length, then that many bytes of UTF-8 (rejecting overlongs, surrogates and the
    /// rest, RFC 3629 §4).
    public mutating func string(_ field: String) throws(BrokerFrameError) -> String {
        let utf8 = try slice(field)
        var validator = UTF8StreamValidator()
        guard validator.feed(utf8) && validator.isAtBoundary else {
            throw BrokerFrameError("\(context)'s \(field) is not valid UTF-8")
        }
        return String(decoding: utf8, as: UTF8.self)
    }

    public mutating func rest() -> [UInt8] {
        let out = Array(bytes[index...])
        index = bytes.endIndex
        return out
    }

    private mutating func slice(_ field: String) throws(BrokerFrameError) -> ArraySlice<UInt8> {
        let count = try u32(field)
        guard UInt64(count) <= UInt64(remaining) else { throw truncated(field) }
        let out = bytes[index..<(index + Int(count))]
        index += Int(count)
        return out
    }

    private mutating func unsigned(_ size: Int, _ field: String) throws(BrokerFrameError) -> UInt64 {
        guard remaining >= size else { throw truncated(field) }
        var value: UInt64 = 0
        for i in index..<(index + size) { value = value << 8 | UInt64(bytes[i]) }
        index += size
        return value
    }

    private func truncated(_ field: String) -> BrokerFrameError {
        BrokerFrameError("\(context) ends inside its \(field)")
    }
}

/// Writes payload fields in the layout `BrokerPayloadReader` reads: big-endian integers,
/// u32-length-prefixed strings and byte runs.
public struct BrokerPayloadWriter {
    public var bytes: [UInt8]

    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func u8(_ value: UInt8) { bytes.append(value) }
    public mutating func u16(_ value: UInt16) { unsigned(UInt64(value), 2) }
    public mutating func u32(_ value: UInt32) { unsigned(UInt64(value), 4) }
    public mutating func u64(_ value: UInt64) { unsigned(value, 8) }
    public mutating func double(_ value: Double) { unsigned(value.bitPattern, 8) }
    public mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    public mutating func bytes<C: Collection>(_ value: C) where C.Element == UInt8 {
        precondition(UInt64(value.count) <= UInt64(UInt32.max), "a field of \(value.count) bytes does not fit a u32 length")
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func string(_ value: String) { bytes(value.utf8) }

    private mutating func unsigned(_ value: UInt64, _ size: Int) {
        for i in stride(from: size - 1, through: 0, by: -1) {
            bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))))
        }
    }
}
