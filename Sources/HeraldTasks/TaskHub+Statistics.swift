/// `GET /api/stats`, computed by the authority, the one place that sees every process's tasks
/// — so every server process answers the same figures.
extension TaskHub {
    /// The statistics JSON of `owner`'s tasks (nil: every owner's) finished within the last
    /// `windowSeconds` (`finished_at ≥ now − window`, both ends in milliseconds) and still
    /// held, with `counts` of all the owner's held tasks (kept on every change, never counted).
    ///
    /// Cost: the finishes are found by walking `terminalOrder` back from its newest entry to
    /// the first one older than the window, so 100,000 held tasks cost nothing beyond the
    /// window's own finishes. For one owner the walk stops once it has visited as many entries
    /// as the owner holds tasks, and that owner's tasks are looked at instead: whichever is
    /// smaller, the window's finishes of every owner or the owner's own tasks, at most twice.
    func statistics(owner: String?, windowSeconds: Double, now: Int64) -> [UInt8] {
        let cutoff = now - TaskStatsQuery.milliseconds(windowSeconds)
        let figures: TaskStatistics
        if let owner {
            figures = finishesByWalking(since: cutoff, owner: owner, budget: ownerIDs(owner).count)
                ?? finishesOfOwner(owner, since: cutoff)
        } else {
            figures = finishesByWalking(since: cutoff, owner: nil, budget: nil)!
        }
        let counts = owner.map { ownerStatusCounts.counts(of: $0) } ?? statusCounts
        return figures.json(windowSeconds: windowSeconds, owner: owner, now: now, counts: counts)
    }

    /// The finishes since `cutoff` (of `owner`, or all), newest first along `terminalOrder`;
    /// nil once more than `budget` entries were visited. Assumes finish times grow along
    /// `terminalOrder`, which holds unless the wall clock is stepped back; then tasks that
    /// finished before the step may be left out until they leave the window anyway.
    func finishesByWalking(since cutoff: Int64, owner: String?, budget: Int?) -> TaskStatistics? {
        var figures = TaskStatistics()
        var visited = 0
        var i = terminalOrder.count - 1
        while i >= terminalOrderStart {
            if let budget, visited >= budget { return nil }
            visited += 1
            let entry = terminalOrder[i]
            i -= 1
            // A task retried (and maybe finished again), deleted or removed since left a stale
            // entry; the current one is where it became terminal at its present seq (a terminal
            // task never changes again without a retry). Fields are read in place (`box`):
            // copying each record was most of the cost.
            guard let box = tasks.box(entry.id), box.record.seq == entry.seq, box.record.status.isTerminal else { continue }
            let finishedAt = box.record.finishedAt ?? box.record.updatedAt
            if finishedAt < cutoff { break }
            if let owner, box.record.owner != owner { continue }
            figures.add(status: box.record.status, startedAt: box.record.startedAt, finishedAt: finishedAt,
                        errorCode: box.record.error?.code)
        }
        return figures
    }

    /// The finishes since `cutoff` among `owner`'s held tasks (its index, in no order).
    func finishesOfOwner(_ owner: String, since cutoff: Int64) -> TaskStatistics {
        var figures = TaskStatistics()
        for id in ownerIDs(owner) {
            guard let box = tasks.box(id), box.record.status.isTerminal else { continue }
            let finishedAt = box.record.finishedAt ?? box.record.updatedAt
            guard finishedAt >= cutoff else { continue }
            figures.add(status: box.record.status, startedAt: box.record.startedAt, finishedAt: finishedAt,
                        errorCode: box.record.error?.code)
        }
        return figures
    }
}
