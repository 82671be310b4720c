/// A batch computed on a hub that is a mirror, for another authority to commit (several hosts
/// on Redis): every reply as it would be, every change it would make, and what the replies and
/// changes were computed from — so the authority can refuse the batch when any of that changed
/// meanwhile (compare-and-set), and the host computes it again. TaskHub+Follower.
public struct StagedBatch: Sendable {
    public enum WriteKind: Sendable, Equatable {
        case task(TaskEventName)
        case removed
        /// A plain heartbeat: the task's lease and `heartbeat_at` moved; no event, no seq.
        case heartbeat
    }

    public struct Write: Sendable {
        public var kind: WriteKind
        public var id: String
        public var owner: String?
        /// The task's JSON as staged; its `seq` (the last field) is the mirror's guess, which the
        /// authority replaces (`jsonBeforeSeq`). Empty for a removal.
        public var json: [UInt8]
        /// The task's next deadline (lease, expiry, timeout or stall), nil when none applies.
        public var deadline: Int64?
        /// The write changes whether the task counts as active for its owner's limits.
        public var changesOwnerActivity: Bool
        /// Lifecycle changes are durable before their 2xx; progress is not.
        public var durable: Bool
        /// Which request of the batch made it; nil for deadlines and retention (`stageTick`).
        public var request: Int?

        /// The JSON up to and including `"seq":`, so the authority can append its own seq and `}`.
        public var jsonBeforeSeq: [UInt8] {
            guard case .task = kind, let colon = json.lastIndex(of: UInt8(ascii: ":")) else { return json }
            return Array(json[...colon])
        }
    }

    /// One reply per request, as the batch would answer on the mirror's state.
    public var replies: [TaskReply] = []
    public var writes: [Write] = []
    /// Every task the batch read or changed → the seq it had when the batch was computed (0:
    /// it did not exist).
    public var taskSeqs: [String: UInt64] = [:]
    /// Owners whose limits the batch checked ("" for tasks without owner) → their version
    /// (the seq of their last change of activity) when it was computed.
    public var ownerVersions: [String: UInt64] = [:]
    /// Tasks a deadline changed: their deadline must still be due when committed.
    public var due: [String] = []

    var currentRequest: Int?
    /// `POST /api/batch` items per request: their replies and the last write each made, so the
    /// committed answer can be written with the committed seqs.
    var batchItems: [Int: [BatchItem]] = [:]
    /// Writes made before the current batch item (to find the item's own).
    private var writesBeforeItem = 0

    struct BatchItem: Sendable {
        var id: String?
        var reply: TaskReply
        var status: Int
        var lastWrite: Int?
    }

    mutating func noteBatchItem(id: String?, _ reply: TaskReply, status: Int) {
        guard let request = currentRequest else { return }
        let items = batchItems[request] ?? []
        let start = items.isEmpty ? writesBeforeRequest : writesBeforeItem
        batchItems[request, default: []].append(BatchItem(id: id, reply: reply, status: status,
                                                          lastWrite: writes.count > start ? writes.count - 1 : nil))
        writesBeforeItem = writes.count
    }

    /// Writes made before the current request (set by `stage` for each request).
    var writesBeforeRequest = 0

    /// The replies as the committed batch answers them: each change's task with the seq the
    /// authority gave it (`first` is the first seq it numbered; heartbeats get none).
    public func committedReplies(first: UInt64) -> [TaskReply] {
        var seqOf = [UInt64?](repeating: nil, count: writes.count)
        var next = first
        for (index, write) in writes.enumerated() where write.kind != .heartbeat {
            seqOf[index] = next
            next += 1
        }
        func committed(_ reply: TaskReply, lastWrite: Int?) -> TaskReply {
            guard let k = lastWrite, let seq = seqOf[k] else { return reply }
            switch (reply, writes[k].kind) {
            case (.task(_, _, let status), .task):
                return .task(json: writes[k].jsonBeforeSeq + Array("\(seq)}".utf8), seq: seq, status: status)
            case (.deleted(let id, _), .removed):
                return .deleted(id: id, seq: seq)
            default:
                return reply
            }
        }
        var lastWrite: [Int: Int] = [:]
        for (index, write) in writes.enumerated() { if let request = write.request { lastWrite[request] = index } }
        return replies.enumerated().map { index, reply in
            if let items = batchItems[index], case .batch = reply {
                var writer = BatchResultsWriter()
                for item in items { writer.append(id: item.id, committed(item.reply, lastWrite: item.lastWrite), status: item.status) }
                return .batch(json: writer.finish())
            }
            return committed(reply, lastWrite: lastWrite[index])
        }
    }

    public var isEmpty: Bool { writes.isEmpty }

    mutating func note(_ task: TaskRecord, json: [UInt8], event: TaskEventName, previous: TaskStatus?) {
        let changesActivity = previous == nil || previous!.isTerminal != task.status.isTerminal
        writes.append(Write(kind: .task(event), id: task.id, owner: task.owner, json: json, deadline: task.nextDeadline,
                            changesOwnerActivity: changesActivity, durable: event != .progress, request: currentRequest))
    }

    mutating func noteRemoval(_ task: TaskRecord) {
        writes.append(Write(kind: .removed, id: task.id, owner: task.owner, json: [], deadline: nil,
                            changesOwnerActivity: !task.status.isTerminal, durable: true, request: currentRequest))
    }

    mutating func noteHeartbeat(_ task: TaskRecord, json: [UInt8]) {
        writes.append(Write(kind: .heartbeat, id: task.id, owner: task.owner, json: json, deadline: task.nextDeadline,
                            changesOwnerActivity: false, durable: false, request: currentRequest))
    }
}

/// An event another host committed, as the tail read it: applied by every mirror in seq order.
public struct CommittedEntry: Sendable, Equatable {
    public var seq: UInt64
    /// A `TaskEventName` raw value, or "removed".
    public var event: String
    public var id: String
    public var owner: String?
    /// The task's JSON (nil for a removal).
    public var json: [UInt8]?

    public init(seq: UInt64, event: String, id: String, owner: String?, json: [UInt8]?) {
        self.seq = seq
        self.event = event
        self.id = id
        self.owner = owner
        self.json = json
    }
}

/// Why committed entries could not be applied: the mirror must be loaded again.
public enum FollowerError: Error, Equatable, Sendable {
    /// The entry's seq does not follow the mirror's (entries missed).
    case gap(expected: UInt64, got: UInt64)
    /// An entry the mirror cannot read.
    case unreadable(seq: UInt64, why: String)
}

extension TaskRecord {
    /// The earliest deadline the server watches for this task (the one Redis' sweep orders by).
    public var nextDeadline: Int64? {
        DeadlineHeap.Kind.allCases.compactMap { deadline(of: $0) }.min()
    }
}
