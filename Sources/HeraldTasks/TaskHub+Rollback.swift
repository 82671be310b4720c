import HeraldStore

/// A turn's changes take effect only once the store has them. Each actor turn (`handle`,
/// `tick`) changes memory first and commits its store changes in one transaction at its end;
/// when that commit fails, the store's transaction rolled back, and `rollBackTurn` puts memory
/// back exactly as it was before the turn — which is what the store holds — from a journal
/// kept during the turn. Nothing of the turn was published yet (events are flushed only after
/// the commit), so the turn's seqs were never seen and are used again.
///
/// Why a journal and not a reload from the store: memory holds more than the store (a plain
/// heartbeat renews a lease in memory only; the duration histograms are never stored), and a
/// reload of 100,000 tasks would stall the actor. Copying the state at each turn's start would
/// cost a copy of every table per turn. The journal costs one entry per task a turn touches.
///
/// What the journal restores, and why that is everything a turn changes:
/// - every task the turn touched (its record and JSON as before its first change: `journal` is
///   called before each of the three places that change `tasks` — `commit`, `remove`
///   and the plain heartbeat), and with it the structures derived from each task: `statusCounts`,
///   `activeSeq`, `ownerIndex`, the owner status counts and active-task sets;
/// - `seq`; `terminalOrder` (the turn only appends to it; compaction waits until after a
///   successful commit) and `terminalOrderStart`; the duration histograms (a copy);
/// - the history ring: the turn's entries are taken back and the ones they overwrote put back;
/// - the deadline heap: a turn only pushes (extra entries are harmless: each is re-checked
///   against its task when due) except `fireDeadlines`, which pops due entries, and compaction,
///   which rebuilds from the state in the turn — so every touched task that holds a lease gets
///   its deadlines pushed again;
/// - the store's pending changes and the turn's events are dropped.
/// Not restored: the `--owner-max-rate` create log (a refused create may count against the
/// rate, in memory only), and `epoch` never changes in a turn.
struct TurnJournal {
    var seq: UInt64 = 0
    var terminalOrderCount = 0
    var terminalOrderStart = 0
    var durations = TaskDurationHistograms()
    /// Each touched task as it was before the turn (nil: it did not exist).
    var priors: [String: (record: TaskRecord?, json: [UInt8]?)] = [:]
    /// History entries the turn's appends overwrote, oldest first.
    var historyOverwritten: [HistoryEntry] = []
}

extension TaskError {
    static func storageUnavailable(_ message: String) -> TaskError {
        TaskError(status: 503, code: "storage_unavailable", message: message)
    }
}

extension TaskHub {
    /// How often a failing store is probed (from `tick`).
    static let storeProbeIntervalMilliseconds: Int64 = 1_000

    func beginTurn() {
        turn.seq = seq
        turn.terminalOrderCount = terminalOrder.count
        turn.terminalOrderStart = terminalOrderStart
        turn.durations = durationHistograms
        turn.priors.removeAll(keepingCapacity: true)
        turn.historyOverwritten.removeAll(keepingCapacity: true)
    }

    /// Whether the turn needs its journal: a commit to a store that keeps nothing cannot fail,
    /// so under `--data :memory:` only a staged turn (a mirror's `stage`, undone at its end)
    /// is ever rolled back.
    var journaling: Bool { staging != nil || !store.keepsNothing }

    /// Records the task as it was before the turn's first change to it.
    func journal(_ id: String) {
        guard journaling, turn.priors[id] == nil else { return }
        turn.priors[id] = (tasks[id], tasks.box(id)?.json)
    }

    /// Commits the turn; on failure rolls it back, enters failing mode and returns the error.
    func commitTurn(now: Int64) -> StoreError? {
        do {
            try persist()
        } catch {
            let failure = (error as? StoreError) ?? StoreError(description: String(describing: error))
            rollBackTurn()
            storeFailing = true
            lastStoreError = failure.description
            lastProbeAt = now
            return failure
        }
        compactTerminalOrder()
        return nil
    }

    /// Puts memory back as it was at `beginTurn` (see `TurnJournal`).
    func rollBackTurn() {
        for (id, prior) in turn.priors {
            if let current = tasks[id] {
                statusCounts[current.status, default: 0] -= 1
                noteOwnerStatus(of: id, owner: current.owner, from: current.status, to: nil)
                ownerIndex.remove(id, owner: current.owner)
            }
            tasks.restore(id, record: prior.record, json: prior.json)
            activeSeq.removeValue(forKey: id)
            if let task = prior.record {
                statusCounts[task.status, default: 0] += 1
                noteOwnerStatus(of: id, owner: task.owner, from: nil, to: task.status)
                ownerIndex.insert(id, owner: task.owner)
                if !task.status.isTerminal { activeSeq[id] = task.seq }
                if task.status.holdsLease { scheduleDeadlines(of: task) }
            }
        }
        seq = turn.seq
        terminalOrder.removeLast(terminalOrder.count - turn.terminalOrderCount)
        terminalOrderStart = turn.terminalOrderStart
        durationHistograms = turn.durations
        while let newest = history.newestSeq, newest > turn.seq { history.removeNewest() }
        for entry in turn.historyOverwritten.reversed() where entry.seq <= turn.seq && history.count < history.capacity {
            history.prepend(entry)
        }
        pendingChanges.removeAll(keepingCapacity: true)
        pendingDurable = false
        pendingOutputs.removeAll { if case .event = $0 { return true } else { return false } }
        turn.priors.removeAll(keepingCapacity: true)
        turn.historyOverwritten.removeAll(keepingCapacity: true)
    }

    /// While failing, a change is refused before it touches anything — except a heartbeat of a
    /// task that is not stale: it renews the lease in memory only (never stored, in any mode),
    /// so workers keep their leases through a full disk.
    func refusedWhileFailing(_ request: TaskRequest) -> Bool {
        guard storeFailing, request.isChange else { return false }
        if let id = request.heartbeatID, let task = tasks[id], !task.stale { return false }
        return true
    }

    func storeFailingRefusal() -> TaskError {
        .storageUnavailable("the store cannot write (\(lastStoreError ?? "unknown error")); nothing was changed, retry later")
    }

    /// At most once per `storeProbeIntervalMilliseconds`: a tiny durable commit (the current
    /// seq and epoch, which the store already holds). When it succeeds, failing mode ends.
    func probeStore(now: Int64) {
        guard lastProbeAt == .min || now < lastProbeAt || now - lastProbeAt >= Self.storeProbeIntervalMilliseconds else { return }
        lastProbeAt = now
        do {
            try store.commit([], seq: seq, epoch: epoch, durable: true)
            storeFailing = false
            lastStoreError = nil
        } catch {
            lastStoreError = (error as? StoreError)?.description ?? String(describing: error)
        }
    }
}
