import HeraldWire

/// A task's error as reported by its worker or the server (`lease_expired`).
public struct TaskFailure: Sendable, Equatable {
    public var code: String
    public var message: String
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// `done` at a moment (ms), for the rate.
struct RateSample: Sendable, Equatable {
    var at: Int64
    var done: Double
}

/// One task, as the contract's task object plus what the server needs to compute `rate`.
/// Times are milliseconds since 1970 (wall clock: leases survive a restart).
public struct TaskRecord: Sendable, Equatable {
    public var id: String
    public var title: String
    public var owner: String?
    public var status: TaskStatus = .queued
    public var stale = false
    public var done: Double = 0
    public var total: Double?
    /// Set directly only while `total` is unknown; otherwise derived from done/total.
    public var directPercent: Double?
    public var message = ""
    public var rate: Double?
    public var etaSeconds: Double?
    public var error: TaskFailure?
    public var result: JSONValue?
    public var attempt = 1
    public var leaseSeconds: Double
    public var expireSeconds: Double
    /// `timeout_s` and `stall_s` (nil: none); see TaskRecord+Deadlines.
    public var timeoutSeconds: Double?
    public var stallSeconds: Double?
    public var createdAt: Int64
    public var updatedAt: Int64
    public var startedAt: Int64?
    public var finishedAt: Int64?
    public var heartbeatAt: Int64?
    /// When done, percent or message last changed in this attempt (heartbeats do not count).
    public var progressAt: Int64?
    public var meta: JSONObject
    public var seq: UInt64 = 0

    /// Recent (time, done) samples the rate is computed from (not part of the JSON).
    var rateSamples: [RateSample] = []

    public init(id: String, title: String, owner: String?, total: Double?, leaseSeconds: Double, expireSeconds: Double,
                meta: JSONObject, now: Int64) {
        self.id = id
        self.title = title
        self.owner = owner
        self.total = total
        self.leaseSeconds = leaseSeconds
        self.expireSeconds = expireSeconds
        self.meta = meta
        createdAt = now
        updatedAt = now
    }

    /// 0–100 from done/total when the total is known, else what the worker set, else nil.
    public var percent: Double? {
        if let total {
            guard total > 0 else { return done > 0 ? 100 : 0 }
            return min(100, max(0, done / total * 100))
        }
        return directPercent
    }

    /// When the lease runs out (ms), for tasks that hold one.
    var leaseDeadline: Int64? {
        guard status.holdsLease, let last = heartbeatAt ?? startedAt else { return nil }
        return last + Int64(leaseSeconds * 1000)
    }

    var expiryDeadline: Int64? {
        guard status.holdsLease, let last = heartbeatAt ?? startedAt else { return nil }
        return last + Int64(expireSeconds * 1000)
    }

    /// The topics this task's events belong to.
    var topics: [TaskTopic] {
        var topics: [TaskTopic] = [.all, .task(id)]
        if let owner { topics.append(.owner(owner)) }
        return topics
    }
}
