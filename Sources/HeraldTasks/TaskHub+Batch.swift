import HeraldWire

extension TaskHub {
    /// Applies a batch: each item exactly as its single call (events, limits, errors), in item
    /// order, within this actor turn, so the whole batch is one store transaction (`handle`
    /// persists once per turn). With `owner`, the caller sees only that owner's tasks: its
    /// filter is forced to it, another owner's id answers as a missing one, and a create for
    /// another owner is refused for that item.
    func batchReply(_ batch: TaskBatch, visibleTo owner: String?, now: Int64) -> TaskReply {
        var results = BatchResultsWriter()
        switch batch {
        case .create(let inputs):
            for var input in inputs {
                let named = input.id != nil
                if !named { input.id = generateID() }
                let id = input.id!
                let reply: TaskReply
                if let owner, input.owner != owner {
                    reply = .failure(.forbidden("this token creates tasks owned by \(owner) only"))
                } else {
                    reply = self.reply(to: .operation(.create(input)), now: now)
                }
                // A refused item without an id of its own names none: no task has the generated one.
                let isFailure: Bool
                if case .failure = reply { isFailure = true } else { isFailure = false }
                results.append(id: named || !isFailure ? id : nil, reply, status: 201)
                staging?.noteBatchItem(id: named || !isFailure ? id : nil, reply, status: 201)
            }
        case .change(let action, let selection):
            let ids: [String]
            switch selection {
            case .ids(let list):
                ids = list
            case .filter(let filterOwner, let statuses):
                // A scoped caller's filter naming another owner matches nothing (never the
                // caller's own tasks instead: a delete aimed at bob's must not hit alice's).
                if let owner, let filterOwner, filterOwner != owner {
                    ids = []
                } else {
                    ids = matching(owner: owner ?? filterOwner, statuses: statuses).sorted { $0.seq < $1.seq }.map(\.id)
                }
                guard ids.count <= TaskBatch.maxItems else {
                    return .failure(TaskError(status: 413, code: "too_many_items",
                                              message: "the filter matches \(ids.count) tasks; a batch changes at most \(TaskBatch.maxItems)"))
                }
            }
            for id in ids {
                if let owner, tasks[id]?.owner != owner {
                    results.append(id: id, .failure(.notFound(id)), status: 200)
                    staging?.noteBatchItem(id: id, .failure(.notFound(id)), status: 200)
                    continue
                }
                let item = reply(to: .operation(action.operation(id)), now: now)
                results.append(id: id, item, status: 200)
                staging?.noteBatchItem(id: id, item, status: 200)
            }
        }
        return .batch(json: results.finish())
    }
}

/// `{"results":[…]}`, one object per item: `{"id","status":201|200,"task":{…}}`,
/// `{"id","status":200,"deleted":true,"seq":N}` for a delete, or `{"id","status":4xx,
/// "error":{"code","message"[,"retry_after":S]}}`.
struct BatchResultsWriter {
    private var out = Array(#"{"results":["#.utf8)
    private var count = 0

    mutating func append(id: String?, _ reply: TaskReply, status: Int) {
        if count > 0 { out.append(UInt8(ascii: ",")) }
        count += 1
        out.append(contentsOf: #"{"id":"#.utf8)
        if let id { JSONWriter.writeString(id, into: &out) } else { out.append(contentsOf: "null".utf8) }
        switch reply {
        case .task(let json, _, _):
            out.append(contentsOf: ",\"status\":\(status),\"task\":".utf8)
            out.append(contentsOf: json)
        case .deleted(_, let seq):
            out.append(contentsOf: ",\"status\":200,\"deleted\":true,\"seq\":\(seq)".utf8)
        case .failure(let error):
            out.append(contentsOf: ",\"status\":\(error.status),\"error\":{\"code\":".utf8)
            JSONWriter.writeString(error.code, into: &out)
            out.append(contentsOf: #","message":"#.utf8)
            JSONWriter.writeString(error.message, into: &out)
            if let retryAfter = error.retryAfterSeconds { out.append(contentsOf: ",\"retry_after\":\(retryAfter)".utf8) }
            out.append(UInt8(ascii: "}"))
        default:
            out.append(contentsOf: #","status":500,"error":{"code":"internal_error","message":"unexpected reply"}"#.utf8)
        }
        out.append(UInt8(ascii: "}"))
    }

    mutating func finish() -> [UInt8] {
        out.append(contentsOf: "]}".utf8)
        return out
    }
}
