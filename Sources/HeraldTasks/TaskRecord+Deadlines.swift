/// The deadlines of contract v2 "Deadlines", for work that is stuck but still heartbeats (a
/// hung network call in a worker whose heartbeat thread lives on keeps its lease forever):
///
/// - `timeout_s`: still `running` or `cancelling` that long after `started_at` → failed `timeout`.
///   A cancelling task counts too: a worker that never confirms the cancel must not hold its
///   slot forever.
/// - `stall_s`: `running` with done, percent and message unchanged that long (from
///   `progress_at`, else `started_at`) → failed `stalled`. Heartbeats do not count: they prove
///   the process lives, not that the work moves. A cancelling task does not stall: it is
///   expected to stop making progress.
///
/// Both count from the current attempt's start: a retry clears `started_at` and `progress_at`.
extension TaskRecord {
    /// What `progress_at` watches.
    struct ProgressMark: Equatable {
        var done: Double
        var percent: Double?
        var message: String
    }

    var progressMark: ProgressMark { ProgressMark(done: done, percent: percent, message: message) }

    /// Moves `progress_at` when done, percent or message differ from `before`.
    mutating func noteProgress(since before: ProgressMark, now: Int64) {
        if progressMark != before { progressAt = now }
    }

    /// When `timeout_s` runs out (ms), for a task it applies to now.
    var timeoutDeadline: Int64? {
        guard status.holdsLease, let timeoutSeconds, let startedAt else { return nil }
        return startedAt + Int64(timeoutSeconds * 1000)
    }

    /// When `stall_s` runs out (ms), for a task it applies to now.
    var stallDeadline: Int64? {
        guard status == .running, let stallSeconds, let last = progressAt ?? startedAt else { return nil }
        return last + Int64(stallSeconds * 1000)
    }

    /// The next deadline of `kind` (ms), or nil when it does not apply to the task now. For the
    /// lease: going stale, or once stale, expiring.
    func deadline(of kind: DeadlineHeap.Kind) -> Int64? {
        switch kind {
        case .lease: stale ? expiryDeadline : leaseDeadline
        case .timeout: timeoutDeadline
        case .stall: stallDeadline
        }
    }

    /// `timeout_s` passed.
    mutating func timeOut(now: Int64) -> TaskEventName {
        let limit = Self.seconds(timeoutSeconds ?? 0)
        return failOverdue(TaskFailure(code: "timeout", message: "not finished \(limit) s after it started (timeout_s \(limit))"), now: now)
    }

    /// `stall_s` passed without a change of done, percent or message.
    mutating func markStalled(now: Int64) -> TaskEventName {
        let limit = Self.seconds(stallSeconds ?? 0)
        return failOverdue(
            TaskFailure(code: "stalled", message: "no change of done, percent or message for \(limit) s (stall_s \(limit))"), now: now)
    }
}
