/// The per-owner limits at the places the hub changes tasks: checked before a create or a
/// retry changes anything (a refusal publishes nothing and uses no seq), and the counts
/// follow every status change, removal and restored task — never a scan of the tasks.
extension TaskHub {
    /// Refuses a create that would take its owner past `--owner-max-active` or
    /// `--owner-max-rate`. Called before anything else a create does: even evicting a finished
    /// task to make room is a change a refused request must not make.
    func admitCreate(owner: String?, now: Int64) throws(TaskError) {
        try admitOneMoreActive(owner: owner)
        if let limit = ownerLimits.maxRate, let wait = ownerLimits.rateRetryAfter(owner, now: now) {
            throw .rateLimited(owner, limit: limit, retryAfter: wait)
        }
    }

    /// Refuses a transition that makes a finished task active again (a retry) when its owner
    /// is at `--owner-max-active`. `task` is the changed copy, not yet committed.
    func admitTransition(of task: TaskRecord, from previous: TaskStatus) throws(TaskError) {
        guard previous.isTerminal, !task.status.isTerminal else { return }
        try admitOneMoreActive(owner: task.owner)
    }

    /// Counts a create that was made (for `--owner-max-rate`).
    func recordCreate(owner: String?, now: Int64) {
        ownerLimits.recordCreate(owner, now: now)
    }

    /// Keeps the active counts: `from` nil for a new or restored task, `to` nil for a removed one.
    func noteOwnerStatus(of id: String, owner: String?, from: TaskStatus?, to: TaskStatus?) {
        ownerLimits.noteStatus(of: id, owner: owner, from: from, to: to)
        ownerStatusCounts.note(owner: owner, from: from, to: to)  // for GET /api/stats?owner=
    }

    private func admitOneMoreActive(owner: String?) throws(TaskError) {
        guard let limit = ownerLimits.maxActive, ownerLimits.isAtActiveLimit(owner) else { return }
        throw .tooManyActive(owner, limit: limit, retryAfter: activeRetryAfter(owner))
    }

    /// When a slot is likely to free up: the smallest `eta_s` among the owner's running tasks,
    /// clamped to `OwnerLimits.activeRetryAfterRange`; the default when none has an ETA. Looks
    /// only at the owner's active tasks, at most the limit of them.
    func activeRetryAfter(_ owner: String?) -> Int {
        var soonest: Double?
        for id in ownerLimits.activeIDs(of: owner) {
            guard let task = tasks[id], task.status == .running, let eta = task.etaSeconds, eta.isFinite else { continue }
            soonest = min(soonest ?? eta, eta)
        }
        guard let soonest else { return OwnerLimits.defaultActiveRetryAfterSeconds }
        let range = OwnerLimits.activeRetryAfterRange
        // Clamped as a Double first: an ETA of 1e300 s must not trap in the conversion.
        return Int(min(Double(range.upperBound), max(Double(range.lowerBound), soonest.rounded(.up))))
    }
}

extension TaskError {
    static func tooManyActive(_ owner: String?, limit: Int, retryAfter: Int) -> TaskError {
        TaskError(status: 429, code: "too_many_active",
                  message: "too many active tasks \(ownerPhrase(owner)): \(limit) queued, running or cancelling is the most allowed; "
                      + "retry once one of them has finished",
                  retryAfterSeconds: retryAfter)
    }

    static func rateLimited(_ owner: String?, limit: Int, retryAfter: Int) -> TaskError {
        TaskError(status: 429, code: "rate_limited",
                  message: "too many creates \(ownerPhrase(owner)): \(limit) in \(OwnerLimits.rateWindowMilliseconds / 1000) s "
                      + "is the most allowed; the next one is admitted in \(retryAfter) s",
                  retryAfterSeconds: retryAfter)
    }

    private static func ownerPhrase(_ owner: String?) -> String {
        owner.map { "for owner \($0)" } ?? "without owner"
    }
}
