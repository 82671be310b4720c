/// Leases, `timeout_s` and `stall_s`: one `DeadlineHeap` for all of them, ticked by the loop of
/// whichever process owns the tasks (so with `--workers` only the broker fires them, once).
/// A tick pops only the entries that are due; nothing scans the tasks to find what expired.
extension TaskHub {
    /// A task's deadline of one kind, already pushed again in this round.
    private struct Pushed: Hashable {
        var id: String
        var kind: DeadlineHeap.Kind
    }

    /// Fires what is due: a lease goes `stale` or fails `lease_expired`, a timeout fails
    /// `timeout`, a stall fails `stalled` — each a lifecycle change through `commit` (seq,
    /// history, store, owner limits), so every subscriber sees it once. An entry whose task
    /// moved on (renewed, progressed, finished, retried) is re-checked against the task: pushed
    /// again at its real deadline, or dropped when none applies any more.
    func fireDeadlines(now: Int64) {
        var pushed = Set<Pushed>()  // a task may have several entries of one kind: one push each is enough
        while let entry = deadlines.popDue(now: now) {
            let id = entry.id
            let kind = entry.kind
            guard var task = tasks[id], let due = task.deadline(of: kind) else { continue }
            guard due <= now else {
                if pushed.insert(Pushed(id: id, kind: kind)).inserted { deadlines.push(due, id, kind) }
                continue
            }
            let before = task.status
            let event: TaskEventName
            switch kind {
            case .lease:
                if let expiry = task.expiryDeadline, now >= expiry {
                    event = task.expire(now: now)  // both passed (a restart after a long stop): fail at once
                } else {
                    event = task.markStale(now: now)
                    if let expiry = task.expiryDeadline, pushed.insert(Pushed(id: id, kind: .lease)).inserted {
                        deadlines.push(expiry, id, .lease)
                    }
                }
            case .timeout: event = task.timeOut(now: now)
            case .stall: event = task.markStalled(now: now)
            }
            commit(&task, event: event, previous: before)
        }
        compactDeadlinesIfNeeded()
    }

    /// Pushes every deadline that applies to `task` now (it just started, or was restored).
    func scheduleDeadlines(of task: TaskRecord) {
        for kind in DeadlineHeap.Kind.allCases {
            if let due = task.deadline(of: kind) { deadlines.push(due, task.id, kind) }
        }
    }

    /// After a restart: every running or cancelling task's deadlines, so one whose lease,
    /// timeout or stall passed while the server was down fires on the first tick.
    func scheduleAllDeadlines() {
        for box in tasks.allBoxes where box.record.status.holdsLease { scheduleDeadlines(of: box.record) }
    }

    /// Rebuilds the heap from the active tasks once entries of finished tasks dominate it: an
    /// active task has at most one entry per kind when rebuilt, so past twice that (plus
    /// `compactionSlack`) most entries are dead. The rebuild visits the active tasks only, and at
    /// most once per that many pushes, so its cost per push stays constant.
    func compactDeadlinesIfNeeded() {
        let kinds = DeadlineHeap.Kind.allCases.count
        guard deadlines.count > 2 * kinds * activeSeq.count + DeadlineHeap.compactionSlack else { return }
        var entries: [DeadlineHeap.Entry] = []
        entries.reserveCapacity(kinds * activeSeq.count)
        for id in activeSeq.keys {
            guard let task = tasks[id], task.status.holdsLease else { continue }
            for kind in DeadlineHeap.Kind.allCases {
                if let due = task.deadline(of: kind) { entries.append(DeadlineHeap.Entry(due, id, kind)) }
            }
        }
        deadlines.replaceAll(with: entries)
    }
}
