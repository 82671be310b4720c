/// One WebSocket frame as it crossed the wire, with its payload already unmasked
/// (RFC 6455 §5.2). Whether it was masked is the decoder's business, not the frame's.
public struct WebSocketFrame: Equatable, Sendable {
    public var fin: Bool
    public var rsv1: Bool
    public var rsv2: Bool
    public var rsv3: Bool
    public var opcode: WebSocketOpcode
    /// Unmasked application data (or, for close, the 2-byte code and the reason).
    public var payload: [UInt8]

    public init(
        fin: Bool = true, rsv1: Bool = false, rsv2: Bool = false, rsv3: Bool = false,
        opcode: WebSocketOpcode, payload: [UInt8] = []
    ) {
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3
        self.opcode = opcode
        self.payload = payload
    }
}
