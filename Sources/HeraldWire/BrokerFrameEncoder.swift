/// Encodes broker protocol frames (see `BrokerFrameDecoder` for the wire format).
///
/// The encoder does not enforce `maxFrameBytes`: the limit is the receiver's, and a frame over
/// it is rejected there. A producer of large frames (a resync snapshot) checks
/// `encodedLength(of:)` first.
public enum BrokerFrameEncoder {
    public static func encode(_ frame: BrokerFrame) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encodedLength(of: frame))
        encode(frame, into: &out)
        return out
    }

    /// Appends one whole frame to `out`.
    public static func encode(_ frame: BrokerFrame, into out: inout [UInt8]) {
        let body = bodyLength(of: frame)
        // The length prefix is a u32; nothing near 4 GiB is ever framed.
        precondition(UInt64(body) <= UInt64(UInt32.max), "broker frame of \(body) bytes does not fit a u32 length")
        var w = BrokerPayloadWriter()
        swap(&w.bytes, &out)
        w.u32(UInt32(body))
        w.u8(frame.type.rawValue)
        switch frame {
        case .hello(let version, let processName, let lastSeq, let epoch):
            w.u16(version)
            w.string(processName)
            w.u64(lastSeq)
            w.string(epoch)
        case .welcome(let version, let epoch, let currentSeq):
            w.u16(version)
            w.string(epoch)
            w.u64(currentSeq)
        case .refuse(let reason):
            w.string(reason)
        case .requests(let batchID, let payload), .outputs(let batchID, let payload):
            w.u64(batchID)
            w.bytes.append(contentsOf: payload)
        case .events(let payload), .resync(let payload):
            w.bytes.append(contentsOf: payload)
        case .ping(let token), .pong(let token):
            w.u64(token)
        }
        swap(&w.bytes, &out)
    }

    /// The whole frame's size on the wire, length prefix included.
    public static func encodedLength(of frame: BrokerFrame) -> Int {
        BrokerFrame.lengthPrefixBytes + bodyLength(of: frame)
    }

    /// N: the type byte and the payload.
    static func bodyLength(of frame: BrokerFrame) -> Int {
        let payload: Int
        switch frame {
        case .hello(_, let processName, _, let epoch):
            payload = 2 + 4 + processName.utf8.count + 8 + 4 + epoch.utf8.count
        case .welcome(_, let epoch, _):
            payload = 2 + 4 + epoch.utf8.count + 8
        case .refuse(let reason):
            payload = 4 + reason.utf8.count
        case .requests(_, let bytes), .outputs(_, let bytes):
            payload = 8 + bytes.count
        case .events(let bytes), .resync(let bytes):
            payload = bytes.count
        case .ping, .pong:
            payload = 8
        }
        return 1 + payload
    }
}
