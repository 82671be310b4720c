/// The 4-bit frame opcode (RFC 6455 §5.2). Values 3–7 and 0xB–0xF are reserved; the decoder
/// rejects them, so they have no case here.
public enum WebSocketOpcode: UInt8, Sendable, CustomStringConvertible {
    case continuation = 0x0
    case text = 0x1
    case binary = 0x2
    case close = 0x8
    case ping = 0x9
    case pong = 0xA

    /// RFC 6455 §5.5: opcodes with the high bit set are control frames.
    public var isControl: Bool { rawValue & 0x8 != 0 }

    public var description: String {
        switch self {
        case .continuation: "continuation"
        case .text: "text"
        case .binary: "binary"
        case .close: "close"
        case .ping: "ping"
        case .pong: "pong"
        }
    }
}
