/// Encodes broker protocol frames (see `BrokerFrameDecoder` for the wire format).
///
/// A frame whose body (type byte + payload) is larger than the fragment size
/// (`BrokerFrame.maxFragmentBytes` unless a test passes another) is written as fragment frames,
/// back to back, that the decoder reassembles; any other frame is written whole. So a frame of
/// any size up to `BrokerFrame.maxMessageBytes` can be sent, and no frame on the wire comes near
/// the receiver's `maxFrameBytes`.
public enum BrokerFrameEncoder {
    public static func encode(_ frame: BrokerFrame, fragmentBytes: Int = BrokerFrame.maxFragmentBytes) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(encodedLength(of: frame, fragmentBytes: fragmentBytes))
        encode(frame, into: &out, fragmentBytes: fragmentBytes)
        return out
    }

    /// Appends one frame to `out`: whole, or as fragments when its body is over `fragmentBytes`.
    public static func encode(
        _ frame: BrokerFrame, into out: inout [UInt8], fragmentBytes: Int = BrokerFrame.maxFragmentBytes
    ) {
        // A fragment frame must itself fit under the receiver's default frame limit.
        precondition(
            fragmentBytes >= 1 && fragmentBytes <= BrokerFrame.maxFrameBytes - BrokerFrame.fragmentHeaderBytes,
            "fragment size \(fragmentBytes) is not in 1...\(BrokerFrame.maxFrameBytes - BrokerFrame.fragmentHeaderBytes)")
        let body = bodyLength(of: frame)
        // A receiver drops the connection past its reassembly cap; the layers above bound what
        // they send (the task engine's --max-tasks), so a frame this large is a bug, not load.
        precondition(
            body <= BrokerFrame.maxMessageBytes,
            "broker frame of \(body) bytes exceeds the message cap of \(BrokerFrame.maxMessageBytes)")
        var w = BrokerPayloadWriter()
        if body <= fragmentBytes {
            // The common case: straight into `out`, with no copy of the payload in between.
            swap(&w.bytes, &out)
            w.u32(UInt32(body))
            writeBody(of: frame, into: &w)
            swap(&w.bytes, &out)
        } else {
            w.bytes.reserveCapacity(body)
            writeBody(of: frame, into: &w)
            appendFragments(of: w.bytes, into: &out, fragmentBytes: fragmentBytes)
        }
    }

    /// The bytes `encode` writes for the frame: length prefixes included, and fragment headers
    /// when its body is over `fragmentBytes`.
    public static func encodedLength(of frame: BrokerFrame, fragmentBytes: Int = BrokerFrame.maxFragmentBytes) -> Int {
        let body = bodyLength(of: frame)
        guard body > fragmentBytes else { return BrokerFrame.lengthPrefixBytes + body }
        let pieces = (body + fragmentBytes - 1) / fragmentBytes
        return body + pieces * (BrokerFrame.lengthPrefixBytes + BrokerFrame.fragmentHeaderBytes)
    }

    /// N: the type byte and the payload.
    static func bodyLength(of frame: BrokerFrame) -> Int {
        let payload: Int
        switch frame {
        case .hello(_, let processName, _, let epoch):
            payload = 2 + 4 + processName.utf8.count + 8 + 4 + epoch.utf8.count
        case .welcome(_, let epoch, _, _):
            payload = 2 + 4 + epoch.utf8.count + 8 + 1
        case .refuse(let reason):
            payload = 4 + reason.utf8.count
        case .requests(_, let bytes), .outputs(_, let bytes):
            payload = 8 + bytes.count
        case .events(let bytes):
            payload = bytes.count
        case .ping:
            payload = 8
        case .pong:
            payload = 16
        }
        return 1 + payload
    }

    /// The type byte and the payload: a frame's bytes after its length prefix.
    private static func writeBody(of frame: BrokerFrame, into w: inout BrokerPayloadWriter) {
        w.u8(frame.type.rawValue)
        switch frame {
        case .hello(let version, let processName, let lastSeq, let epoch):
            w.u16(version)
            w.string(processName)
            w.u64(lastSeq)
            w.string(epoch)
        case .welcome(let version, let epoch, let currentSeq, let resumed):
            w.u16(version)
            w.string(epoch)
            w.u64(currentSeq)
            w.bool(resumed)
        case .refuse(let reason):
            w.string(reason)
        case .requests(let batchID, let payload), .outputs(let batchID, let payload):
            w.u64(batchID)
            w.bytes.append(contentsOf: payload)
        case .events(let payload):
            w.bytes.append(contentsOf: payload)
        case .ping(let token):
            w.u64(token)
        case .pong(let token, let seq):
            w.u64(token)
            w.u64(seq)
        }
    }

    /// Consecutive fragment frames whose pieces, concatenated, are `body`; the last is marked.
    private static func appendFragments(of body: [UInt8], into out: inout [UInt8], fragmentBytes: Int) {
        var w = BrokerPayloadWriter()
        swap(&w.bytes, &out)
        for start in stride(from: 0, to: body.count, by: fragmentBytes) {
            let end = min(start + fragmentBytes, body.count)
            w.u32(UInt32(BrokerFrame.fragmentHeaderBytes + end - start))
            w.u8(BrokerFrameType.fragment.rawValue)
            w.bool(end == body.count)
            w.bytes.append(contentsOf: body[start..<end])
        }
        swap(&w.bytes, &out)
    }
}
