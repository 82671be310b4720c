import HeraldWire

/// The payloads of the broker frames: a batch of requests (`requests`), its events and replies
/// (`outputs`), and events for the other server processes (`events`). Compact binary in the
/// layout of `BrokerPayloadWriter`; free JSON (`meta`, `result`) travels as its JSON text.
/// Every decode is bounded by the frame it came in and rejects unknown tags.
public enum TaskBatchCodec {
    // MARK: Requests

    public static func encode(requests: [TaskRequest]) -> [UInt8] {
        var w = BrokerPayloadWriter(capacity: 64 * requests.count)
        w.u32(UInt32(requests.count))
        for request in requests { write(request, &w) }
        return w.bytes
    }

    public static func decodeRequests(_ bytes: [UInt8]) throws(BrokerFrameError) -> [TaskRequest] {
        var r = BrokerPayloadReader(bytes: bytes[...], context: "requests payload")
        let count = try r.u32("request count")
        var out: [TaskRequest] = []
        for _ in 0..<count { out.append(try readRequest(&r)) }
        try expectEnd(r)
        return out
    }

    // MARK: Outputs and events

    public static func encode(outputs: [HubOutput]) -> [UInt8] {
        var w = BrokerPayloadWriter(capacity: 256 * outputs.count)
        w.u32(UInt32(outputs.count))
        for output in outputs {
            switch output {
            case .event(let event):
                w.u8(1)
                write(event, &w)
            case .reply(let index, let reply):
                w.u8(2)
                w.u32(UInt32(index))
                write(reply, &w)
            }
        }
        return w.bytes
    }

    public static func decodeOutputs(_ bytes: [UInt8]) throws(BrokerFrameError) -> [HubOutput] {
        var r = BrokerPayloadReader(bytes: bytes[...], context: "outputs payload")
        let count = try r.u32("output count")
        var out: [HubOutput] = []
        for _ in 0..<count {
            switch try r.u8("output kind") {
            case 1: out.append(.event(try readEvent(&r)))
            case 2:
                let index = Int(try r.u32("reply index"))
                out.append(.reply(index: index, try readReply(&r)))
            case let tag: throw BrokerFrameError("outputs payload has an unknown output kind \(tag)")
            }
        }
        try expectEnd(r)
        return out
    }

    public static func encode(events: [PublishedEvent]) -> [UInt8] {
        var w = BrokerPayloadWriter(capacity: 512 * events.count)
        w.u32(UInt32(events.count))
        for event in events { write(event, &w) }
        return w.bytes
    }

    public static func decodeEvents(_ bytes: [UInt8]) throws(BrokerFrameError) -> [PublishedEvent] {
        var r = BrokerPayloadReader(bytes: bytes[...], context: "events payload")
        let count = try r.u32("event count")
        var out: [PublishedEvent] = []
        for _ in 0..<count { out.append(try readEvent(&r)) }
        try expectEnd(r)
        return out
    }

    private static func expectEnd(_ r: BrokerPayloadReader) throws(BrokerFrameError) {
        guard r.remaining == 0 else { throw BrokerFrameError("\(r.context) has \(r.remaining) bytes after its last item") }
    }
}
