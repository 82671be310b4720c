/// `GET /api/stats` and `herald_task_duration_seconds`, computed by the authority, the one
/// place that sees every process's tasks — so every server process answers the same figures.
extension TaskHub {
    /// The statistics JSON of `owner`'s tasks (nil: every owner's) finished within the last
    /// `windowSeconds` (`finished_at ≥ now − window`, both ends in milliseconds) and still
    /// held, with `counts` of all the owner's held tasks.
    ///
    /// Cost: only the tasks that finished within the window are visited, walking
    /// `terminalOrder` (the order tasks became terminal) back from its newest entry and stopping
    /// at the first one older than the window; `counts` comes from counts kept on every change.
    /// So 100,000 held tasks cost nothing beyond the window's own finishes. The walk assumes
    /// finish times grow along `terminalOrder`, which holds unless the wall clock is stepped
    /// back; then tasks that finished before the step may be left out of the window.
    func statistics(owner: String?, windowSeconds: Double, now: Int64) -> [UInt8] {
        let cutoff = now - TaskStatsQuery.milliseconds(windowSeconds)
        var figures = TaskStatistics()
        var i = terminalOrder.count - 1
        while i >= terminalOrderStart {
            let entry = terminalOrder[i]
            i -= 1
            // A task retried (and maybe finished again), deleted or removed since left a stale
            // entry; the current one is where the task became terminal at its present seq (a
            // terminal task never changes again without a retry).
            guard let task = tasks[entry.id], task.seq == entry.seq, task.status.isTerminal else { continue }
            if (task.finishedAt ?? task.updatedAt) < cutoff { break }
            if let owner, task.owner != owner { continue }
            figures.add(task)
        }
        let counts = owner.map { ownerStatusCounts.counts(of: $0) } ?? statusCounts
        return figures.json(windowSeconds: windowSeconds, owner: owner, now: now, counts: counts)
    }
}
