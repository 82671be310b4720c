import CHeraldRedis

/// Why a byte stream from Redis could not be read as RESP: the connection is dropped.
public struct RedisProtocolError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// Turns the bytes Redis sends into replies, with hiredis's reader doing the parsing (the part
/// of hiredis that has years of fuzzing behind it); its reply tree is copied into `RedisValue`
/// and freed at once. Not thread-safe: one per connection, on its loop.
public final class RedisReplyReader {
    private let reader: UnsafeMutablePointer<redisReader>

    public init() {
        // redisReaderCreate only fails when malloc does.
        guard let reader = redisReaderCreate() else { fatalError("redisReaderCreate: out of memory") }
        self.reader = reader
    }

    deinit {
        redisReaderFree(reader)
    }

    public func feed(_ bytes: UnsafeRawBufferPointer) throws(RedisProtocolError) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) != REDIS_OK {
            throw error()
        }
    }

    public func feed(_ bytes: [UInt8]) throws(RedisProtocolError) {
        let ok = bytes.withUnsafeBytes { buffer in
            buffer.baseAddress.map { redisReaderFeed(reader, $0.assumingMemoryBound(to: CChar.self), buffer.count) } ?? REDIS_OK
        }
        if ok != REDIS_OK { throw error() }
    }

    /// The next complete reply, or nil when more bytes are needed.
    public func next() throws(RedisProtocolError) -> RedisValue? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { throw error() }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return Self.value(raw.assumingMemoryBound(to: redisReply.self))
    }

    private func error() -> RedisProtocolError {
        let message = withUnsafeBytes(of: reader.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return RedisProtocolError(description: "bad reply from Redis: \(message.isEmpty ? "protocol error" : message)")
    }

    private static func value(_ reply: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STATUS: return .status(text(r))
        case REDIS_REPLY_ERROR: return .error(text(r))
        case REDIS_REPLY_INTEGER: return .integer(Int64(r.integer))
        case REDIS_REPLY_NIL: return .null
        case REDIS_REPLY_STRING:
            guard let str = r.str else { return .bulk([]) }
            return .bulk(Array(UnsafeRawBufferPointer(start: str, count: r.len)))
        case REDIS_REPLY_ARRAY:
            guard let elements = r.element else { return .array([]) }
            return .array((0..<r.elements).map { value(elements[$0]!) })
        default:
            return .error("HERALD unknown reply type \(r.type)")
        }
    }

    private static func text(_ r: redisReply) -> String {
        guard let str = r.str else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: str, count: r.len), as: UTF8.self)
    }
}
