import HeraldStore
import HeraldWire

/// A hub as a mirror of an authority elsewhere (several hosts on Redis, docs/architecture.md):
/// its state changes only through `applyCommitted`, in the authority's seq order, so every host
/// holds the same tasks; a batch is computed here with the one implementation of the lifecycle
/// (`stage`) and the exact undo of a refused turn (TaskHub+Rollback) puts the mirror back at
/// once. Nothing staged is published; what the authority commits comes back as entries.
extension TaskHub {
    /// Computes `requests` on the mirror — replies, changes, what they were computed from — and
    /// undoes the turn. `tick`: also what deadlines and retention would change now.
    public func stage(_ requests: [TaskRequest], tick: Bool = false) -> StagedBatch {
        let now = clock()
        beginTurn()
        staging = StagedBatch()
        for (index, request) in requests.enumerated() {
            staging!.currentRequest = index
            staging!.writesBeforeRequest = staging!.writes.count
            noteReadSet(of: request)
            let reply = reply(to: request, now: now)
            staging!.replies.append(reply)
        }
        staging!.currentRequest = nil
        if tick {
            let before = staging!.writes.count
            fireDeadlines(now: now)
            enforceRetention(now: now)
            for write in staging!.writes[before...] where write.kind != .removed { staging!.due.append(write.id) }
        }
        var staged = staging!
        staging = nil
        for (id, prior) in turn.priors where staged.taskSeqs[id] == nil { staged.taskSeqs[id] = prior.record?.seq ?? 0 }
        rollBackTurn()
        return staged
    }

    /// What a request's answer depends on, before it is applied: the task it names and, when
    /// it may take an owner's slot (a create, a retry), the owner's version.
    private func noteReadSet(of request: TaskRequest) {
        switch request {
        case .scoped(_, let inner):
            noteReadSet(of: inner)
        case .operation(let op):
            if let id = op.taskID, staging!.taskSeqs[id] == nil { staging!.taskSeqs[id] = tasks[id]?.seq ?? 0 }
            guard ownerLimits.maxActive != nil || ownerLimits.maxRate != nil else { return }
            let owner: String?
            switch op {
            case .create(let input): owner = input.owner
            case .retry(let id): owner = tasks[id]?.owner
            default: return
            }
            let key = owner ?? ""
            if staging!.ownerVersions[key] == nil { staging!.ownerVersions[key] = ownerVersions[key] ?? 0 }
        case .batch(.create(let inputs)):
            for input in inputs { noteReadSet(of: .operation(.create(input))) }
        case .batch(.change(let action, .ids(let ids))):
            for id in ids { noteReadSet(of: .operation(action.operation(id))) }
        default:
            break
        }
    }

    /// Applies entries the authority committed, in seq order, publishing each to the sinks as a
    /// local change would be. A gap or an unreadable entry throws before anything of the
    /// offending entry is applied: the caller loads the mirror again.
    public func applyCommitted(_ entries: [CommittedEntry]) throws(FollowerError) {
        defer {
            pendingChanges.removeAll(keepingCapacity: true)  // the authority stores; the mirror keeps nothing
            pendingDurable = false
            compactTerminalOrder()
            flushEvents(except: nil)
        }
        for entry in entries { try applyEntry(entry) }
    }

    /// Applies the entries of a batch this host committed and answers the batch the way a local
    /// one is answered (`handle`): each request's events, then its reply, in request order — so
    /// a subscribe in the batch is registered exactly between the events before it and after
    /// it — the origin's events in its outputs, everyone else's through `publish`. `entries` are
    /// the batch's numbered writes, in order; reads are answered from the mirror as it is at
    /// their place.
    public func applyOwnBatch(_ entries: [CommittedEntry], staged: StagedBatch, requests: [TaskRequest], batch: UInt64,
                              origin: TaskEventSink) throws(FollowerError) {
        let numbered = staged.writes.indices.filter { staged.writes[$0].kind != .heartbeat }
        guard numbered.count == entries.count else {
            throw .unreadable(seq: entries.first?.seq ?? seq, why: "a batch of \(numbered.count) changes came back as \(entries.count) entries")
        }
        var entryOfWrite: [Int: CommittedEntry] = [:]
        for (k, w) in numbered.enumerated() { entryOfWrite[w] = entries[k] }
        let committed = staged.committedReplies(first: entries.first?.seq ?? 0)
        let now = clock()
        var failure: FollowerError?
        for (index, request) in requests.enumerated() {
            for w in staged.writes.indices where staged.writes[w].request == index {
                guard failure == nil, let entry = entryOfWrite[w] else { continue }
                do throws(FollowerError) { try applyEntry(entry) } catch { failure = error }
            }
            pendingOutputs.append(.reply(index: index, request.isChange ? committed[index] : reply(to: request, now: now)))
        }
        pendingChanges.removeAll(keepingCapacity: true)
        pendingDurable = false
        compactTerminalOrder()
        origin.complete(batch: batch, flushEvents(except: origin))
        if let failure { throw failure }
    }

    /// The outputs of a batch whose changes were all refused or wrote no event: its reads
    /// answered now, in order with the events already applied.
    public func completeWithoutEntries(staged: StagedBatch, requests: [TaskRequest], batch: UInt64, origin: TaskEventSink) {
        let now = clock()
        for (index, request) in requests.enumerated() {
            pendingOutputs.append(.reply(index: index, request.isChange ? staged.replies[index] : reply(to: request, now: now)))
        }
        origin.complete(batch: batch, flushEvents(except: origin))
    }

    /// A batch the authority could not take: its changes answered with `refusal` (nothing was
    /// applied), its reads from the mirror, in order with the events already applied.
    public func completeRefused(_ requests: [TaskRequest], refusal: TaskError, batch: UInt64, origin: TaskEventSink) {
        let now = clock()
        for (index, request) in requests.enumerated() {
            pendingOutputs.append(.reply(index: index, request.isChange ? .failure(refusal) : reply(to: request, now: now)))
        }
        origin.complete(batch: batch, flushEvents(except: origin))
    }

    /// The JSON has rate and ETA but not the samples they came from; keep them as the host that
    /// computed the change did, so the next report (on any host) measures over the same window.
    private func followRateSamples(of task: inout TaskRecord, event: TaskEventName) {
        switch event {
        case .started: task.rateSamples = [RateSample(at: task.startedAt ?? task.updatedAt, done: task.done)]
        case .progress:
            guard let old = tasks[task.id], old.attempt == task.attempt else { return }
            task.rateSamples = old.rateSamples
            if task.done != old.done || task.progressAt != old.progressAt { task.appendRateSample(task.updatedAt) }
        default:
            if let old = tasks[task.id], old.attempt == task.attempt { task.rateSamples = old.rateSamples }
        }
    }

    private func changesOwnerActivity(_ entry: CommittedEntry) -> Bool {
        switch entry.event {
        case "created", "retried", "succeeded", "failed", "cancelled", "removed": return true
        default: return false
        }
    }

    /// One committed entry: the task installed (or removed) with the entry's seq.
    func applyEntry(_ entry: CommittedEntry) throws(FollowerError) {
        guard entry.seq == seq + 1 else { throw .gap(expected: seq + 1, got: entry.seq) }
        if entry.event == "removed" {
            guard let task = tasks[entry.id] else { throw .unreadable(seq: entry.seq, why: "removal of \(entry.id), which it does not hold") }
            seq = entry.seq
            uninstall(task)
        } else {
            guard let event = TaskEventName(rawValue: entry.event), let json = entry.json,
                  let value = try? JSONParser.parse(json), var task = TaskRecord.decode(value), task.id == entry.id else {
                throw .unreadable(seq: entry.seq, why: "event \(entry.event) of \(entry.id)")
            }
            task.seq = entry.seq
            followRateSamples(of: &task, event: event)
            seq = entry.seq
            let previous = tasks[entry.id]?.status
            if previous == nil { ownerIndex.insert(task.id, owner: task.owner) }
            install(task, json: json, event: event, previous: previous)
            if event == .created { recordCreate(owner: task.owner, now: task.createdAt) }
        }
        if changesOwnerActivity(entry) { ownerVersions[entry.owner ?? ""] = entry.seq }
    }

    /// Fills a new mirror with the authority's tasks as of `seq` in `epoch`. Its history starts
    /// empty: a client resuming from an earlier seq gets a `recovered:false` snapshot, never a
    /// gap. Returns how many tasks could not be read.
    public func loadMirror(tasks stored: [[UInt8]], seq: UInt64, epoch: String, ownerVersions: [String: UInt64],
                           history recent: [CommittedEntry] = []) -> Int {
        precondition(tasks.count == 0 && self.seq == 0, "loadMirror is for a new hub")
        let skipped = load(tasks: stored)
        self.seq = seq
        self.epoch = epoch
        self.ownerVersions = ownerVersions
        scheduleAllDeadlines()
        // The authority's last events, so a client resuming from before this load (another host,
        // this host before a restart, a store imported into Redis) gets exactly what it missed:
        // the longest run of consecutive entries that ends at `seq`.
        var run: [HistoryEntry] = []
        for entry in recent.sorted(by: { $0.seq > $1.seq }) {
            guard entry.seq == (run.last.map { $0.seq - 1 } ?? seq), let history = HistoryEntry(committed: entry) else { break }
            run.append(history)
        }
        for entry in run.suffix(configuration.historySize).reversed() { self.history.append(entry) }
        return skipped
    }

    /// A task's record from the authority with the same seq as the mirror's, newer only in what
    /// makes no event (a heartbeat another host took): put in place silently.
    public func refresh(_ id: String, json: [UInt8]) {
        guard let current = tasks[id], let value = try? JSONParser.parse(json), var task = TaskRecord.decode(value),
              task.seq == current.seq, task.id == id else { return }
        task.rateSamples = current.rateSamples
        tasks.set(task, json: json)
        if task.status.holdsLease { scheduleDeadlines(of: task) }
    }
}

extension HistoryEntry {
    /// A committed entry as the history keeps it (nil for one this version cannot read).
    init?(committed entry: CommittedEntry) {
        if entry.event == "removed" {
            self.init(seq: entry.seq, kind: .removed, taskID: entry.id, owner: entry.owner, isProgress: false,
                      body: TaskEventEncoder.removedBody(seq: entry.seq, id: entry.id))
        } else {
            guard let event = TaskEventName(rawValue: entry.event), let json = entry.json else { return nil }
            self.init(seq: entry.seq, kind: .task, taskID: entry.id, owner: entry.owner, isProgress: event == .progress,
                      body: TaskEventEncoder.taskBody(seq: entry.seq, event: event, taskJSON: json))
        }
    }
}
