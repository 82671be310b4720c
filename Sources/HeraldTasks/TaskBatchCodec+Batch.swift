import HeraldWire

// The layout of a `TaskBatch` inside request tag 7: kind (1 create, 2 change), then the create
// ops (as in request tag 1) or the action name and the selection (1 ids, 2 filter).
extension TaskBatchCodec {
    static func writeBatch(_ batch: TaskBatch, _ w: inout BrokerPayloadWriter) {
        switch batch {
        case .create(let inputs):
            w.u8(1)
            w.u32(UInt32(inputs.count))
            for input in inputs { write(TaskOperation.create(input), &w) }
        case .change(let action, let selection):
            w.u8(2)
            w.string(action.rawValue)
            switch selection {
            case .ids(let ids):
                w.u8(1)
                w.u32(UInt32(ids.count))
                for id in ids { w.string(id) }
            case .filter(let owner, let statuses):
                w.u8(2)
                if let owner { w.bool(true); w.string(owner) } else { w.bool(false) }
                w.u32(UInt32(statuses.count))
                for status in statuses.sorted(by: { $0.rawValue < $1.rawValue }) { w.string(status.rawValue) }
            }
        }
    }

    static func readBatch(_ r: inout BrokerPayloadReader) throws(BrokerFrameError) -> TaskBatch {
        switch try r.u8("batch kind") {
        case 1:
            let count = try itemCount(&r)
            var inputs: [CreateInput] = []
            for _ in 0..<count {
                guard case .create(let input) = try readOperation(&r) else { throw BrokerFrameError("\(r.context) has a batch item that is not a create") }
                inputs.append(input)
            }
            return .create(inputs)
        case 2:
            let name = try r.string("batch action")
            guard let action = TaskBatchAction(rawValue: name) else { throw BrokerFrameError("\(r.context) has an unknown batch action \(name)") }
            switch try r.u8("batch selection") {
            case 1:
                var ids: [String] = []
                for _ in 0..<(try itemCount(&r)) { ids.append(try r.string("id")) }
                return .change(action, .ids(ids))
            case 2:
                let owner = try r.bool("has owner") ? try r.string("owner") : nil
                var statuses = Set<TaskStatus>()
                for _ in 0..<(try r.u32("status count")) { statuses.insert(try status(try r.string("status"))) }
                return .change(action, .filter(owner: owner, statuses: statuses))
            case let tag: throw BrokerFrameError("\(r.context) has an unknown batch selection \(tag)")
            }
        case let tag: throw BrokerFrameError("\(r.context) has an unknown batch kind \(tag)")
        }
    }

    private static func itemCount(_ r: inout BrokerPayloadReader) throws(BrokerFrameError) -> Int {
        let count = Int(try r.u32("batch item count"))
        guard count <= TaskBatch.maxItems else { throw BrokerFrameError("\(r.context) has a batch of \(count) items") }
        return count
    }
}
