import HeraldWire

// Field layouts of `TaskBatchCodec`. Tags are part of the wire protocol: never renumber them.
extension TaskBatchCodec {
    // MARK: Requests

    static func write(_ request: TaskRequest, _ w: inout BrokerPayloadWriter) {
        switch request {
        case .operation(let op):
            w.u8(1)
            write(op, &w)
        case .get(let id):
            w.u8(2)
            w.string(id)
        case .list(let owner, let statuses, let limit):
            w.u8(3)
            writeOptional(owner, &w) { $0.string($1) }
            w.u32(UInt32(statuses.count))
            for status in statuses.sorted(by: { $0.rawValue < $1.rawValue }) { w.string(status.rawValue) }
            writeOptional(limit, &w) { $0.u64(UInt64(max(0, $1))) }
        case .subscribe(let topic, let since, let epoch):
            w.u8(4)
            w.string(topic.description)
            writeOptional(since, &w) { $0.u64($1) }
            writeOptional(epoch, &w) { $0.string($1) }
        case .stats:
            w.u8(5)
        case .batch(let batch):
            w.u8(7)
            writeBatch(batch, &w)
        case .scoped(let owner, let inner):
            w.u8(6)
            w.string(owner)
            write(inner, &w)
        case .statistics(let owner, let windowSeconds):
            w.u8(8)
            writeStatistics(owner: owner, windowSeconds: windowSeconds, &w)
        }
    }

    static func readRequest(_ r: inout BrokerPayloadReader) throws(BrokerFrameError) -> TaskRequest {
        switch try r.u8("request kind") {
        case 1: return .operation(try readOperation(&r))
        case 2: return .get(id: try r.string("id"))
        case 3:
            let owner = try readOptional(&r, "owner") { (r: inout BrokerPayloadReader) throws(BrokerFrameError) in try r.string("owner") }
            var statuses = Set<TaskStatus>()
            for _ in 0..<(try r.u32("status count")) { statuses.insert(try status(try r.string("status"))) }
            let limit = try readOptional(&r, "limit") { (r: inout BrokerPayloadReader) throws(BrokerFrameError) in Int(clamping: try r.u64("limit")) }
            return .list(owner: owner, statuses: statuses, limit: limit)
        case 4:
            let text = try r.string("topic")
            guard let topic = TaskTopic(text) else { throw BrokerFrameError("\(r.context) has an invalid topic \(text)") }
            let since = try readOptional(&r, "since") { (r: inout BrokerPayloadReader) throws(BrokerFrameError) in try r.u64("since") }
            let epoch = try readOptional(&r, "epoch") { (r: inout BrokerPayloadReader) throws(BrokerFrameError) in try r.string("epoch") }
            return .subscribe(topic: topic, since: since, epoch: epoch)
        case 5: return .stats
        case 7: return .batch(try readBatch(&r))
        case 6:
            let owner = try r.string("owner")
            guard TaskValidation.isValidOwner(owner) else { throw BrokerFrameError("\(r.context) has an invalid scope owner") }
            let inner = try readRequest(&r)
            if case .scoped = inner { throw BrokerFrameError("\(r.context) has a request scoped twice") }
            return .scoped(owner: owner, inner)
        case 8: return try readStatisticsRequest(&r)
        case let tag: throw BrokerFrameError("\(r.context) has an unknown request kind \(tag)")
        }
    }

    static func write(_ op: TaskOperation, _ w: inout BrokerPayloadWriter) {
        switch op {
        case .create(let input):
            w.u8(1)
            writeOptional(input.id, &w) { $0.string($1) }
            w.string(input.title)
            writeOptional(input.owner, &w) { $0.string($1) }
            writeOptional(input.total, &w) { $0.double($1) }
            w.double(input.leaseSeconds)
            w.double(input.expireSeconds)
            w.bytes(JSONWriter.encode(.object(input.meta)))
            write(input.timeout, &w)
            write(input.stall, &w)
        case .start(let id): w.u8(2); w.string(id)
        case .progress(let id, let p):
            w.u8(3)
            w.string(id)
            writeOptional(p.done, &w) { $0.double($1) }
            switch p.total {  // absent, null (unknown from now on), or a value
            case .none: w.u8(0)
            case .some(.none): w.u8(1)
            case .some(.some(let total)): w.u8(2); w.double(total)
            }
            writeOptional(p.percent, &w) { $0.double($1) }
            writeOptional(p.message, &w) { $0.string($1) }
        case .heartbeat(let id): w.u8(4); w.string(id)
        case .complete(let id, let message, let result):
            w.u8(5)
            w.string(id)
            writeOptional(message, &w) { $0.string($1) }
            writeOptional(result, &w) { $0.bytes(JSONWriter.encode($1)) }
        case .fail(let id, let failure):
            w.u8(6)
            w.string(id)
            w.string(failure.code)
            w.string(failure.message)
        case .cancel(let id): w.u8(7); w.string(id)
        case .confirmCancelled(let id): w.u8(8); w.string(id)
        case .retry(let id): w.u8(9); w.string(id)
        case .delete(let id): w.u8(10); w.string(id)
        }
    }

    static func readOperation(_ r: inout BrokerPayloadReader) throws(BrokerFrameError) -> TaskOperation {
        let tag = try r.u8("operation kind")
        switch tag {
        case 1:
            let id = try readOptional(&r, "id") { (r: inout BrokerPayloadReader) throws(BrokerFrameError) in try r.string("id") }
            let title = try r.string("title")
            let owner = try readOptional(&r, "owner") { (r: inout BrokerPayloadReader) throws(BrokerFrameError) in try r.string("owner") }
            let total = try readOptional(&r, "total") { (r: inout BrokerPayloadReader) throws(BrokerFrameError) in try r.double("total") }
            let lease = try r.double("lease_s")
            let expire = try r.double("expire_s")
            guard case .object(let meta) = try json(try r.bytes("meta"), r) else { throw BrokerFrameError("\(r.context)'s meta is not an object") }
            var input = CreateInput(id: id, title: title, owner: owner, total: total, leaseSeconds: lease, expireSeconds: expire, meta: meta)
            input.timeout = try readDeadline(&r, "timeout_s")
            input.stall = try readDeadline(&r, "stall_s")
            return .create(input)
        case 3:
            let id = try r.string("id")
            var p = ProgressInput()
            p.done = try readOptional(&r, "done") { (r: inout BrokerPayloadReader) throws(BrokerFrameError) in try r.double("done") }
            switch try r.u8("total kind") {
            case 0: p.total = nil
            case 1: p.total = .some(nil)
            case 2: p.total = .some(try r.double("total"))
            case let kind: throw BrokerFrameError("\(r.context) has an unknown total kind \(kind)")
            }
            p.percent = try readOptional(&r, "percent") { (r: inout BrokerPayloadReader) throws(BrokerFrameError) in try r.double("percent") }
            p.message = try readOptional(&r, "message") { (r: inout BrokerPayloadReader) throws(BrokerFrameError) in try r.string("message") }
            return .progress(id: id, p)
        case 5:
            let id = try r.string("id")
            let message = try readOptional(&r, "message") { (r: inout BrokerPayloadReader) throws(BrokerFrameError) in try r.string("message") }
            let result = try readOptional(&r, "result") { (r: inout BrokerPayloadReader) throws(BrokerFrameError) in try json(try r.bytes("result"), r) }
            return .complete(id: id, message: message, result: result)
        case 6:
            let id = try r.string("id")
            return .fail(id: id, TaskFailure(code: try r.string("code"), message: try r.string("message")))
        case 2, 4, 7, 8, 9, 10:
            let id = try r.string("id")
            switch tag {
            case 2: return .start(id: id)
            case 4: return .heartbeat(id: id)
            case 7: return .cancel(id: id)
            case 8: return .confirmCancelled(id: id)
            case 9: return .retry(id: id)
            default: return .delete(id: id)
            }
        default:
            throw BrokerFrameError("\(r.context) has an unknown operation kind \(tag)")
        }
    }

    // MARK: Events and replies

    static func write(_ event: PublishedEvent, _ w: inout BrokerPayloadWriter) {
        w.u64(event.seq)
        w.string(event.taskID)
        w.bool(event.isProgress)
        writeOptional(event.taskJSON, &w) { $0.bytes($1) }
        switch event.content {
        case .shared(let kind, let owner, let body):
            // The actor's event: its shared body once; the server process writes each topic's
            // text only for topics someone subscribes to there (protocol 4).
            w.u8(kind == .removed ? 2 : 1)
            writeOptional(owner, &w) { $0.string($1) }
            w.bytes(body)
        case .messages(let messages):
            w.u8(0)
            w.u32(UInt32(messages.count))
            for message in messages {
                w.string(message.topic)
                w.bytes(message.json)
            }
        }
    }

    static func readEvent(_ r: inout BrokerPayloadReader) throws(BrokerFrameError) -> PublishedEvent {
        let seq = try r.u64("seq")
        let taskID = try r.string("task id")
        let isProgress = try r.bool("progress flag")
        let taskJSON = try readOptional(&r, "task") { (r: inout BrokerPayloadReader) throws(BrokerFrameError) in try r.bytes("task") }
        switch try r.u8("event form") {
        case 0:
            var messages: [(topic: String, json: [UInt8])] = []
            for _ in 0..<(try r.u32("message count")) {
                let topic = try r.string("topic")
                messages.append((topic: topic, json: try r.bytes("message")))
            }
            return PublishedEvent(seq: seq, taskID: taskID, isProgress: isProgress, taskJSON: taskJSON, messages: messages)
        case let form where form == 1 || form == 2:
            let owner = try readOptional(&r, "owner") { (r: inout BrokerPayloadReader) throws(BrokerFrameError) in try r.string("owner") }
            let body = try r.bytes("body")
            return PublishedEvent(seq: seq, taskID: taskID, isProgress: isProgress, taskJSON: taskJSON,
                                  content: .shared(kind: form == 2 ? .removed : .task, owner: owner, body: body))
        case let form:
            throw BrokerFrameError("\(r.context) has an unknown event form \(form)")
        }
    }

    static func write(_ reply: TaskReply, _ w: inout BrokerPayloadWriter) {
        switch reply {
        case .task(let json, let seq, let status):
            w.u8(1)
            w.bytes(json)
            w.u64(seq)
            w.string(status.rawValue)
        case .deleted(let id, let seq):
            w.u8(2)
            w.string(id)
            w.u64(seq)
        case .list(let json):
            w.u8(3)
            w.bytes(json)
        case .subscription(let messages):
            w.u8(4)
            w.u32(UInt32(messages.count))
            for message in messages { w.bytes(message) }
        case .stats(let stats):
            w.u8(5)
            w.u64(stats.seq)
            w.string(stats.epoch)
            let counts = stats.countsByStatus.sorted { $0.key.rawValue < $1.key.rawValue }
            w.u32(UInt32(counts.count))
            for (status, count) in counts {
                w.string(status.rawValue)
                w.u64(UInt64(max(0, count)))
            }
            w.u64(stats.eventsPublished)
            w.u64(UInt64(stats.taskCount))
            write(stats.durations, &w)
            w.u8(stats.storeFailing ? 1 : 0)
        case .statistics(let json):
            w.u8(9)
            w.bytes(json)
        case .failure(let error):
            // 7 is 6 with a Retry-After after it; 6 stays byte for byte what it was.
            w.u8(error.retryAfterSeconds == nil ? 6 : 7)
            w.u16(UInt16(clamping: error.status))
            w.string(error.code)
            w.string(error.message)
            if let seconds = error.retryAfterSeconds { w.u32(UInt32(clamping: seconds)) }
        case .batch(let json):
            w.u8(8)
            w.bytes(json)
        }
    }

    static func readReply(_ r: inout BrokerPayloadReader) throws(BrokerFrameError) -> TaskReply {
        let tag = try r.u8("reply kind")
        switch tag {
        case 1:
            let json = try r.bytes("task")
            let seq = try r.u64("seq")
            return .task(json: json, seq: seq, status: try status(try r.string("status")))
        case 2:
            let id = try r.string("id")
            return .deleted(id: id, seq: try r.u64("seq"))
        case 3:
            return .list(json: try r.bytes("list"))
        case 4:
            var messages: [[UInt8]] = []
            for _ in 0..<(try r.u32("message count")) { messages.append(try r.bytes("message")) }
            return .subscription(messages: messages)
        case 5:
            let seq = try r.u64("seq")
            let epoch = try r.string("epoch")
            var counts: [TaskStatus: Int] = [:]
            for _ in 0..<(try r.u32("count entries")) {
                let s = try status(try r.string("status"))
                counts[s] = Int(clamping: try r.u64("count"))
            }
            let published = try r.u64("events published")
            let taskCount = Int(clamping: try r.u64("task count"))
            let durations = try readDurations(&r)
            let storeFailing = try r.u8("store failing") != 0
            return .stats(TaskHubStats(seq: seq, epoch: epoch, countsByStatus: counts, eventsPublished: published, taskCount: taskCount,
                                       durations: durations, storeFailing: storeFailing))
        case 6, 7:
            let code = Int(try r.u16("status"))
            var error = TaskError(status: code, code: try r.string("code"), message: try r.string("message"))
            if tag == 7 { error.retryAfterSeconds = Int(try r.u32("retry-after")) }
            return .failure(error)
        case 8:
            return .batch(json: try r.bytes("batch results"))
        case 9:
            return .statistics(json: try r.bytes("statistics"))
        default:
            throw BrokerFrameError("\(r.context) has an unknown reply kind \(tag)")
        }
    }

    // MARK: Helpers

    /// A create's `timeout_s`/`stall_s`: 0 absent (the broker's default applies), 1 null (none),
    /// 2 and the seconds.
    private static func write(_ deadline: DeadlineSetting, _ w: inout BrokerPayloadWriter) {
        switch deadline {
        case .serverDefault: w.u8(0)
        case .off: w.u8(1)
        case .seconds(let seconds): w.u8(2); w.double(seconds)
        }
    }

    private static func readDeadline(_ r: inout BrokerPayloadReader, _ field: String) throws(BrokerFrameError) -> DeadlineSetting {
        switch try r.u8("\(field) kind") {
        case 0: return .serverDefault
        case 1: return .off
        case 2:
            let seconds = try r.double(field)
            // The server process validated it; a peer that did not must not plant a deadline that never fires.
            guard TaskValidation.isValidDeadline(seconds) else { throw BrokerFrameError("\(r.context) has an invalid \(field) \(seconds)") }
            return .seconds(seconds)
        case let kind: throw BrokerFrameError("\(r.context) has an unknown \(field) kind \(kind)")
        }
    }

    private static func writeOptional<T>(_ value: T?, _ w: inout BrokerPayloadWriter, _ body: (inout BrokerPayloadWriter, T) -> Void) {
        if let value {
            w.bool(true)
            body(&w, value)
        } else {
            w.bool(false)
        }
    }

    private static func readOptional<T>(
        _ r: inout BrokerPayloadReader, _ field: String, _ body: (inout BrokerPayloadReader) throws(BrokerFrameError) -> T
    ) throws(BrokerFrameError) -> T? {
        try r.bool("\(field) presence") ? try body(&r) : nil
    }

    static func status(_ text: String) throws(BrokerFrameError) -> TaskStatus {
        guard let status = TaskStatus(rawValue: text) else { throw BrokerFrameError("unknown task status \(text)") }
        return status
    }

    private static func json(_ bytes: [UInt8], _ r: BrokerPayloadReader) throws(BrokerFrameError) -> JSONValue {
        do {
            return try JSONParser.parse(bytes)
        } catch {
            throw BrokerFrameError("\(r.context) carries invalid JSON: \(error.message)")
        }
    }
}
