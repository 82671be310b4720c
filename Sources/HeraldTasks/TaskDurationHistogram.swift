/// How long tasks ran, `finished_at − started_at`, as Prometheus histograms by outcome
/// (`herald_task_duration_seconds{outcome}`). The authority observes each terminal transition
/// of a task that had started; a task cancelled while still queued never ran and is not
/// observed. Kept in memory for the authority's lifetime: a restart starts from zero, which
/// Prometheus' `rate()`/`increase()` treat as a counter reset.
public struct TaskDurationHistogram: Sendable, Equatable {
    /// Upper bounds (`le`) in milliseconds, chosen for background jobs: sub-second steps for
    /// quick jobs, then the 5 s…1 h range most exports, reports and imports fall in. Prometheus
    /// adds `+Inf`; more buckets would multiply the series of every outcome for little gain.
    public static let bucketBoundsMilliseconds: [Int64] = [
        100, 500, 1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 600_000, 1_800_000, 3_600_000,
    ]

    /// Observations per bucket, not cumulative; the last one is `+Inf` (above every bound).
    public internal(set) var bucketCounts: [UInt64]
    /// The sum of every observation, in milliseconds (exact, unlike a sum of floating seconds).
    public internal(set) var sumMilliseconds: UInt64 = 0

    public init() {
        bucketCounts = Array(repeating: 0, count: Self.bucketBoundsMilliseconds.count + 1)
    }

    /// Restores counts read back from the wire; nil unless there is one per bucket.
    public init?(bucketCounts: [UInt64], sumMilliseconds: UInt64) {
        guard bucketCounts.count == Self.bucketBoundsMilliseconds.count + 1 else { return nil }
        self.bucketCounts = bucketCounts
        self.sumMilliseconds = sumMilliseconds
    }

    public var count: UInt64 { bucketCounts.reduce(0, &+) }

    /// Counts `milliseconds` in the first bucket whose bound is at or above it (`le` is
    /// inclusive). A negative duration (the wall clock stepped back) counts as 0.
    public mutating func observe(milliseconds: Int64) {
        let value = max(0, milliseconds)
        let index = Self.bucketBoundsMilliseconds.firstIndex { value <= $0 } ?? Self.bucketBoundsMilliseconds.count
        bucketCounts[index] &+= 1
        sumMilliseconds &+= UInt64(value)
    }

    /// Cumulative counts as Prometheus exposes them: the i-th is every observation ≤ bound i,
    /// the last (`+Inf`) equals `count`.
    public var cumulativeCounts: [UInt64] {
        var total: UInt64 = 0
        return bucketCounts.map { total &+= $0; return total }
    }
}

/// One histogram per outcome: the three terminal statuses.
public struct TaskDurationHistograms: Sendable, Equatable {
    /// The order in which they are rendered and sent over the broker's socket.
    public static let outcomes: [TaskStatus] = [.succeeded, .failed, .cancelled]

    public internal(set) var byOutcome: [TaskStatus: TaskDurationHistogram]

    public init() {
        byOutcome = Dictionary(uniqueKeysWithValues: Self.outcomes.map { ($0, TaskDurationHistogram()) })
    }

    public subscript(outcome: TaskStatus) -> TaskDurationHistogram {
        get { byOutcome[outcome] ?? TaskDurationHistogram() }
        set { byOutcome[outcome] = newValue }
    }

    /// Observes a task that has just become terminal, if it ever started.
    mutating func observe(_ task: TaskRecord) {
        guard Self.outcomes.contains(task.status), let started = task.startedAt, let finished = task.finishedAt else { return }
        self[task.status].observe(milliseconds: finished - started)
    }
}
