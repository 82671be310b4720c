import HeraldRedis

/// One call of `RedisTaskScripts.commit`: what a batch was computed from and what it writes.
public struct RedisCommit: Sendable, Equatable {
    public enum Kind: String, Sendable { case task = "t", removed = "r", heartbeat = "h" }

    /// What to do with the task's entry in the deadline set.
    public enum DeadlineChange: Sendable, Equatable {
        case keep, drop
        case set(Int64)
    }

    public struct Write: Sendable, Equatable {
        public var kind: Kind
        public var id: String
        public var owner: String?
        /// The event's name (`created`, `progress`…); unused for removals and heartbeats.
        public var event: String
        /// The task's JSON before and after its seq value (a heartbeat: all of it in `before`).
        public var before: [UInt8]
        public var after: [UInt8]
        public var deadline: DeadlineChange
        /// Sets the owner's version to this write's seq (creates, retries, finishes, removals).
        public var bumpsOwner: Bool
        public var nonce: String

        public init(kind: Kind, id: String, owner: String?, event: String = "", before: [UInt8] = [], after: [UInt8] = [],
                    deadline: DeadlineChange = .keep, bumpsOwner: Bool = false, nonce: String = RedisCommit.newNonce()) {
            self.kind = kind
            self.id = id
            self.owner = owner
            self.event = event
            self.before = before
            self.after = after
            self.deadline = deadline
            self.bumpsOwner = bumpsOwner
            self.nonce = nonce
        }
    }

    public enum Outcome: Sendable, Equatable {
        /// Numbered `first...last` (first 0: nothing was numbered, e.g. only heartbeats).
        case committed(first: UInt64, last: UInt64)
        /// Something it was computed from changed: catch up to `seq` and compute it again.
        case conflict(seq: UInt64)
        /// Redis is in another epoch: resync.
        case otherEpoch(String)
        /// Redis ran it after its deadline (it was paused): not applied.
        case late
    }

    public var epoch: String
    public var commitID: String
    /// Redis `TIME` in ms after which the commit must not apply (0: no deadline).
    public var deadlineMilliseconds: Int64 = 0
    public var history: Int = 10_000
    public var requestTTLMilliseconds: Int64 = 60_000
    /// Task id → the seq it must still have (0: must not exist).
    public var taskSeqs: [(id: String, seq: UInt64)] = []
    /// Owner ("" for tasks without owner) → the version it must still have (0: none yet).
    public var ownerVersions: [(owner: String, version: UInt64)] = []
    /// Tasks whose deadline score must still be due (a sweep's changes).
    public var due: [String] = []
    public var writes: [Write] = []

    public init(epoch: String, commitID: String = RedisCommit.newNonce()) {
        self.epoch = epoch
        self.commitID = commitID
    }

    public static func == (a: RedisCommit, b: RedisCommit) -> Bool {
        a.epoch == b.epoch && a.commitID == b.commitID && a.arguments == b.arguments
    }

    public func command(keys: RedisTaskKeys) -> RedisCommand {
        RedisTaskScripts.commit.command(
            keys: [keys.meta, keys.tasks, keys.seqs, keys.events, keys.deadlines, keys.owners, keys.request(commitID)],
            arguments: arguments)
    }

    var arguments: [[UInt8]] {
        var a: [[UInt8]] = [epoch, String(deadlineMilliseconds), String(history), commitID, String(requestTTLMilliseconds)]
            .map { Array($0.utf8) }
        func add(_ s: String) { a.append(Array(s.utf8)) }
        add(String(taskSeqs.count))
        for (id, seq) in taskSeqs { add(id); add(String(seq)) }
        add(String(ownerVersions.count))
        for (owner, version) in ownerVersions { add(owner); add(String(version)) }
        add(String(due.count))
        for id in due { add(id) }
        add(String(writes.count))
        for w in writes {
            add(w.kind.rawValue); add(w.id); add(w.owner ?? ""); add(w.event)
            a.append(w.before); a.append(w.after)
            switch w.deadline {
            case .keep: add("-")
            case .drop: add("")
            case .set(let ms): add(String(ms))
            }
            add(w.bumpsOwner ? "1" : "0"); add(w.nonce)
        }
        return a
    }

    /// Reads the script's reply; nil for a reply it cannot make.
    public static func outcome(_ reply: RedisValue) -> Outcome? {
        guard let parts = reply.array, let status = parts.first?.string else { return nil }
        switch (status, parts.count) {
        case ("ok", 3):
            guard let first = parts[1].int, let last = parts[2].int, first >= 0, last >= first else { return nil }
            return .committed(first: UInt64(first), last: UInt64(last))
        case ("conflict", 2):
            guard let seq = parts[1].int, seq >= 0 else { return nil }
            return .conflict(seq: UInt64(seq))
        case ("epoch", 2): return parts[1].string.map { .otherEpoch($0) }
        case ("late", 2): return .late
        default: return nil
        }
    }

    /// 16 random hex digits (commit ids, event nonces).
    public static func newNonce() -> String {
        var rng = SystemRandomNumberGenerator()
        let n = rng.next() as UInt64
        let hex = String(n, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// `RedisTaskScripts.hello`'s answer.
public struct RedisHello: Sendable, Equatable {
    public enum Status: String, Sendable { case new, ok, reset, rotated }
    public var status: Status
    public var epoch: String
    public var seq: UInt64

    public static func command(keys: RedisTaskKeys, epoch: String, lastSeq: UInt64, nonce: String, freshEpoch: String) -> RedisCommand {
        RedisTaskScripts.hello.command(keys: [keys.meta, keys.events],
                                       arguments: [epoch, String(lastSeq), nonce, freshEpoch].map { Array($0.utf8) })
    }

    public init(status: Status, epoch: String, seq: UInt64) {
        self.status = status
        self.epoch = epoch
        self.seq = seq
    }

    public init?(_ reply: RedisValue) {
        guard let parts = reply.array, parts.count == 3, let status = parts[0].string.flatMap(Status.init(rawValue:)),
              let epoch = parts[1].string, let seq = parts[2].int, seq >= 0 else { return nil }
        self.init(status: status, epoch: epoch, seq: UInt64(seq))
    }
}
