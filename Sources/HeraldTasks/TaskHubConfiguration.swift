public struct TaskHubConfiguration: Sendable {
    /// Events kept for resume (`--history`).
    public var historySize = 10_000
    /// Terminal tasks are removed this long after they finished (`--retention`, 7 days).
    public var retentionSeconds = 7.0 * 86_400
    /// At most this many tasks are held; the oldest terminal ones go first (`--max-tasks`).
    public var maxTasks = 100_000
    /// Terminal tasks in a snapshot (`--snapshot-terminal`); every non-terminal one is always in.
    public var snapshotTerminal = 200
    /// Largest `limit` of `GET /api/tasks`.
    public var maxListLimit = 10_000
    public var defaultListLimit = 1_000
    /// Most tasks one owner may have queued, running or cancelling (`--owner-max-active`);
    /// nil: no limit. Tasks without owner count together as one owner.
    public var ownerMaxActive: Int?
    /// Most creates one owner may make in any `OwnerLimits.rateWindowMilliseconds`
    /// (`--owner-max-rate`); nil: no limit.
    public var ownerMaxRate: Int?
    /// `timeout_s` and `stall_s` of a task created without them (`--task-timeout`,
    /// `--task-stall`); nil: none.
    public var defaultTimeoutSeconds: Double?
    public var defaultStallSeconds: Double?

    public init() {}
}

/// What the actor is asked, in batches from the loop.
public enum TaskRequest: Sendable {
    case operation(TaskOperation)
    case get(id: String)
    case list(owner: String?, statuses: Set<TaskStatus>, limit: Int?)
    case subscribe(topic: TaskTopic, since: UInt64?, epoch: String?)
    case stats
    /// `POST /api/batch`: every item in this one actor turn and one store transaction.
    case batch(TaskBatch)
    /// `GET /api/stats`: the figures of `owner`'s tasks (nil: every owner's) finished within the
    /// last `windowSeconds`, as the answer's JSON (TaskHub+Statistics).
    case statistics(owner: String?, windowSeconds: Double)
    /// `request` for a caller that sees only `owner`'s tasks (a viewer or worker token): another
    /// owner's task is not found, topics beyond its own are forbidden. The actor checks it,
    /// because only the actor knows whose a task is at the moment of the request.
    indirect case scoped(owner: String, TaskRequest)
}

public enum TaskReply: Sendable {
    /// A task after an operation or a read; `cancelRequested` for progress answers.
    case task(json: [UInt8], seq: UInt64, status: TaskStatus)
    case deleted(id: String, seq: UInt64)
    case list(json: [UInt8])
    /// What a new subscriber gets first (a snapshot, or `resumed` and the missed events).
    case subscription(messages: [[UInt8]])
    case stats(TaskHubStats)
    /// `{"results":[…]}` of a batch, built once in the actor.
    case batch(json: [UInt8])
    /// The JSON of `GET /api/stats`, written once by the actor.
    case statistics(json: [UInt8])
    case failure(TaskError)
}

public struct TaskHubStats: Sendable {
    public var seq: UInt64
    public var epoch: String
    public var countsByStatus: [TaskStatus: Int]
    public var eventsPublished: UInt64
    public var taskCount: Int
    /// `herald_task_duration_seconds` since the authority started.
    public var durations = TaskDurationHistograms()
    /// The authority's store refuses writes (changes get `503 storage_unavailable`).
    public var storeFailing = false
}

extension TaskRequest {
    /// Requests that change tasks (as opposed to reads and subscriptions).
    public var isChange: Bool {
        switch self {
        case .operation, .batch: return true
        case .get, .list, .subscribe, .stats, .statistics: return false
        case .scoped(_, let inner): return inner.isChange
        }
    }

    /// The task of a single heartbeat (scoped or not).
    var heartbeatID: String? {
        switch self {
        case .operation(.heartbeat(let id)): return id
        case .scoped(_, let inner): return inner.heartbeatID
        default: return nil
        }
    }
}
