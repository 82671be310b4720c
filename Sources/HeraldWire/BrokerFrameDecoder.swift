/// Decodes the broker protocol's frames from a Unix stream socket's bytes. Pure: it only looks
/// at the buffer.
///
/// Wire format: a 4-byte big-endian length N, then N bytes: 1 type byte and N − 1 payload
/// bytes. Integers are big-endian; a string is a u32 length and that many UTF-8 bytes.
/// The length is checked as soon as its 4 bytes are in and the type as soon as its byte is in,
/// so a bad peer is failed before any payload is buffered.
///
/// A frame too large for one travels as fragment frames (`BrokerFrameType.fragment`): each
/// carries a last flag and a piece of the big frame's body (type byte + payload). The decoder
/// takes the pieces into its own buffer and returns the frame once the last is in, as if it had
/// arrived whole. Each fragment frame is bounded by `maxFrameBytes`, the reassembled body by
/// `maxMessageBytes`, checked from each fragment's length before its piece is buffered.
public struct BrokerFrameDecoder: Sendable {
    public let maxFrameBytes: Int
    public let maxMessageBytes: Int
    /// Set by the first error; every later call throws it again (the stream has lost its
    /// frame boundaries, so nothing after it can be trusted).
    public private(set) var failure: BrokerFrameError?
    /// The body of a fragmented frame so far; nil when none is in progress.
    private var reassembly: [UInt8]?

    public init(maxFrameBytes: Int = BrokerFrame.maxFrameBytes, maxMessageBytes: Int = BrokerFrame.maxMessageBytes) {
        precondition(maxFrameBytes >= 1 && UInt64(maxFrameBytes) <= UInt64(UInt32.max))
        precondition(maxMessageBytes >= 1)
        self.maxFrameBytes = maxFrameBytes
        self.maxMessageBytes = maxMessageBytes
    }

    /// The next complete frame, or nil when more bytes are needed. Consumes exactly the bytes
    /// of the frames it reads: a whole frame's when it returns one, nothing else when it returns
    /// nil, except fragment frames, which move from `input` into the decoder as each is complete.
    public mutating func next(_ input: inout ByteBuffer) throws(BrokerFrameError) -> BrokerFrame? {
        if let failure { throw failure }
        do {
            return try decode(&input)
        } catch {
            failure = error
            throw error
        }
    }

    private mutating func decode(_ input: inout ByteBuffer) throws(BrokerFrameError) -> BrokerFrame? {
        let prefix = BrokerFrame.lengthPrefixBytes
        // Fragments are taken one after another until a frame is whole or the input runs out.
        while true {
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
            try checkFits(type, length: length)
            guard input.readableBytes >= prefix + length else { return nil }

            let view = input.readableView
            let start = view.startIndex + prefix + 1
            let payload = view[start..<(start + length - 1)]
            guard type == .fragment else {
                var reader = BrokerPayloadReader(bytes: payload, type: type)
                let frame = try Self.fields(of: type, &reader)
                input.moveReaderIndex(forwardBy: prefix + length)
                return frame
            }
            let body = try take(fragment: payload)
            input.moveReaderIndex(forwardBy: prefix + length)
            if let body { return try Self.frame(reassembledFrom: body) }
        }
    }

    /// Checks a frame against the fragmented frame in progress as soon as its type is known:
    /// nothing may come between fragments, and a piece must not carry the body past
    /// `maxMessageBytes` (checked before the piece is buffered).
    private func checkFits(_ type: BrokerFrameType, length: Int) throws(BrokerFrameError) {
        if type == .fragment {
            let piece = max(0, length - BrokerFrame.fragmentHeaderBytes)
            if (reassembly?.count ?? 0) + piece > maxMessageBytes {
                throw BrokerFrameError("fragmented frame exceeds \(maxMessageBytes) bytes")
            }
        } else if reassembly != nil {
            throw BrokerFrameError("\(type.name) frame arrived inside an unfinished fragmented frame")
        }
    }

    /// Adds one fragment's piece to the reassembly; returns the whole body after the last piece.
    private mutating func take(fragment payload: ArraySlice<UInt8>) throws(BrokerFrameError) -> [UInt8]? {
        var reader = BrokerPayloadReader(bytes: payload, type: .fragment)
        let last = try reader.bool("last flag")
        let piece = payload.dropFirst()
        if reassembly == nil { reassembly = [] }
        // The body's type is checked with its first byte, so a nested or unknown frame fails
        // before the rest of it is buffered.
        if reassembly!.isEmpty, let first = piece.first { _ = try Self.reassembledType(first) }
        reassembly!.append(contentsOf: piece)
        guard last else { return nil }
        let body = reassembly!
        reassembly = nil
        return body
    }

    private static func reassembledType(_ byte: UInt8) throws(BrokerFrameError) -> BrokerFrameType {
        guard let type = BrokerFrameType(rawValue: byte) else {
            throw BrokerFrameError("unknown frame type \(byte) in a fragmented frame")
        }
        if type == .fragment { throw BrokerFrameError("fragmented frame's body is itself a fragment (fragments do not nest)") }
        return type
    }

    private static func frame(reassembledFrom body: [UInt8]) throws(BrokerFrameError) -> BrokerFrame {
        guard let first = body.first else {
            throw BrokerFrameError("fragmented frame of 0 bytes (a frame has at least its type byte)")
        }
        let type = try reassembledType(first)
        var reader = BrokerPayloadReader(bytes: body[1...], type: type)
        return try fields(of: type, &reader)
    }

    private static func fields(of type: BrokerFrameType, _ r: inout BrokerPayloadReader) throws(BrokerFrameError) -> BrokerFrame {
        let frame: BrokerFrame
        switch type {
        case .hello:
            frame = .hello(
                version: try r.u16("version"), processName: try r.string("process name"),
                lastSeq: try r.u64("last seq"), epoch: try r.string("epoch"))
        case .welcome:
            frame = .welcome(
                version: try r.u16("version"), epoch: try r.string("epoch"), currentSeq: try r.u64("current seq"),
                resumed: try r.bool("resumed"))
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
            frame = .pong(token: try r.u64("token"), seq: try r.u64("seq"))
        case .fragment:
            // `decode` and `reassembledType` route fragments away before fields are read.
            throw BrokerFrameError("fragmented frame's body is itself a fragment (fragments do not nest)")
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
