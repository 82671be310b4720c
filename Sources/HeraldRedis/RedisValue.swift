/// One RESP2 reply, as Redis sends it.
public enum RedisValue: Equatable, Sendable {
    /// `+OK`, `+PONG`.
    case status(String)
    /// `-ERR …`, `-LOADING …`, `-NOSCRIPT …`: the first word is the error's kind.
    case error(String)
    case integer(Int64)
    case bulk([UInt8])
    /// `$-1` or `*-1`.
    case null
    case array([RedisValue])

    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let b): return b
        case .status(let s): return Array(s.utf8)
        default: return nil
        }
    }

    public var string: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    /// An integer reply, or a bulk string of digits (Lua returns numbers as integers, HGET as bulk).
    public var int: Int64? {
        switch self {
        case .integer(let n): return n
        case .bulk(let b): return Int64(String(decoding: b, as: UTF8.self))
        default: return nil
        }
    }

    public var array: [RedisValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The error's kind (`LOADING`, `NOSCRIPT`, `OOM`, `ERR`…), nil for a non-error.
    public var errorKind: Substring? {
        guard case .error(let message) = self else { return nil }
        return message.split(separator: " ", maxSplits: 1).first ?? ""
    }
}
