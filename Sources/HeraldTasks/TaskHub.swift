import Glibc
import HeraldStore
import HeraldWire

/// The single owner of every task: applies each change, assigns its `seq`, keeps the history
/// for resume, encodes each event once per topic, and hands each batch of events to the loops
/// in one call. Requests arrive in batches too (one hop per loop turn).
public actor TaskHub {
    let configuration: TaskHubConfiguration
    /// Every task, with the JSON of the active ones (TaskTable).
    var tasks = TaskTable()
    var ownerIndex = OwnerIndex()
    var statusCounts: [TaskStatus: Int] = [:]
    /// Ids in the order they became terminal (stale entries are skipped lazily).
    var terminalOrder: [(id: String, seq: UInt64)] = []
    /// Every non-terminal task's seq: a `tasks` snapshot lists these without touching the
    /// (mostly finished) rest — 100,000 held tasks must not make a subscribe slow.
    var activeSeq: [String: UInt64] = [:]
    var terminalOrderStart = 0
    var history: HistoryRing
    public internal(set) var seq: UInt64 = 0
    public internal(set) var epoch: String
    var eventsPublished: UInt64 = 0
    /// Leases, timeouts and stalls (TaskHub+Deadlines).
    var deadlines = DeadlineHeap()
    /// Active tasks and recent creates per owner, for `--owner-max-active`/`--owner-max-rate`.
    var ownerLimits: OwnerLimits
    /// Held tasks per owner and status, for `GET /api/stats?owner=` (TaskHub+Statistics).
    var ownerStatusCounts = OwnerStatusCounts()
    /// `herald_task_duration_seconds`, observed at each terminal transition of a started task.
    var durationHistograms = TaskDurationHistograms()
    var sinks: [TaskEventSink] = []
    /// Where each changed task is encoded before its exact-size copy (capacity kept between events).
    var encodeScratch: [UInt8] = []
    /// The time text of the last second encoded, shared by the changes of that second.
    var encodeTimes = TimeTextCache()
    /// Events (and, for the requesting loop, replies in between) of the batch being processed.
    var pendingOutputs: [HubOutput] = []
    let clock: @Sendable () -> Int64
    let store: TaskStore
    /// Changes of the batch being processed, written in one transaction at its end.
    var pendingChanges: [StoreChange] = []
    var pendingDurable = false
    var commitsSinceTrim = 0
    /// What the current turn changed, to put back exactly when its commit fails
    /// (TaskHub+Rollback): a change takes effect only once the store has it.
    var turn = TurnJournal()
    /// True from a failed commit until a probe commit succeeds: changes are refused up front
    /// (`503 storage_unavailable`) without touching anything; reads and subscriptions go on.
    public internal(set) var storeFailing = false
    /// Why the last write failed (nil once a write succeeded again).
    public internal(set) var lastStoreError: String?
    /// When the store was last probed while failing (TaskHub+Rollback).
    var lastProbeAt: Int64 = .min
    /// Set while `stage` computes a batch for another authority to commit (TaskHub+Follower).
    var staging: StagedBatch?
    /// A mirror's owner versions: the seq of each owner's last change of activity ("" for
    /// tasks without owner), which staged creates and retries are compared on (TaskHub+Follower).
    var ownerVersions: [String: UInt64] = [:]

    public init(configuration: TaskHubConfiguration = TaskHubConfiguration(), store: TaskStore = MemoryTaskStore(),
                clock: @escaping @Sendable () -> Int64 = TaskHub.wallClockMilliseconds) {
        self.configuration = configuration
        self.store = store
        self.clock = clock
        history = HistoryRing(capacity: configuration.historySize)
        ownerLimits = OwnerLimits(configuration)
        epoch = Self.newEpoch()
    }

    /// Attaches a sink that has seen nothing yet.
    public func addSink(_ sink: TaskEventSink) {
        addSink(sink, resumingAfter: nil, epoch: "")
    }

    /// Attaches `sink` and, in the same step, tells it what it missed after `lastSeq` of `epoch`
    /// (nil for a sink that never saw anything: nothing to catch up). Events after this call
    /// reach it through `publish` only after `attached`, so nothing is seen twice or skipped.
    public func addSink(_ sink: TaskEventSink, resumingAfter lastSeq: UInt64?, epoch sinkEpoch: String) {
        sinks.append(sink)
        var missed: [PublishedEvent]? = []
        if let lastSeq {
            if sinkEpoch == epoch, let entries = history.entries(after: lastSeq, current: seq) {
                missed = entries.map { PublishedEvent($0, taskJSON: $0.taskJSON) }
            } else {
                missed = nil
            }
        }
        sink.attached(epoch: epoch, seq: seq, missed: missed)
    }

    /// Stops sending events to `sink` (a server process that disconnected).
    public func removeSink(_ sink: TaskEventSink) {
        sinks.removeAll { $0 === sink }
    }

    public var sinkCount: Int { sinks.count }

    public static func wallClockMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec / 1_000_000)
    }

    static func newEpoch() -> String {
        var rng = SystemRandomNumberGenerator()
        return String((0..<12).map { _ in "0123456789abcdefghijklmnopqrstuvwxyz".randomElement(using: &rng)! })
    }

    public var stats: TaskHubStats {
        TaskHubStats(seq: seq, epoch: epoch, countsByStatus: statusCounts, eventsPublished: eventsPublished, taskCount: tasks.count,
                     durations: durationHistograms, storeFailing: storeFailing)
    }

    // MARK: Batches

    /// Handles a batch of requests in order. The requesting loop gets the events and the replies
    /// interleaved in the order they happened — so a subscriber is registered exactly between
    /// the events its snapshot includes and the ones it must receive — and every other sink gets
    /// the events in one call.
    ///
    /// The batch's changes take effect only once the store has them: if its commit fails, the
    /// turn is rolled back exactly (TaskHub+Rollback), none of its events is published, every
    /// change in it is answered `503 storage_unavailable`, and its reads are answered again
    /// from the restored state (one computed after a refused change would show that change).
    /// While the store is failing, changes are refused before they touch anything.
    public func handle(_ requests: [TaskRequest], from origin: TaskEventSink? = nil) -> [HubOutput] {
        let now = clock()
        beginTurn()
        for (index, request) in requests.enumerated() {
            let reply = refusedWhileFailing(request) ? .failure(storeFailingRefusal()) : reply(to: request, now: now)
            pendingOutputs.append(.reply(index: index, reply))
        }
        if let error = commitTurn(now: now) {
            pendingOutputs.removeAll(keepingCapacity: true)
            let refusal = TaskError.storageUnavailable("the change could not be saved, nothing was changed: \(error)")
            for (index, request) in requests.enumerated() {
                pendingOutputs.append(.reply(index: index, request.isChange ? .failure(refusal) : reply(to: request, now: now)))
            }
        }
        return flushEvents(except: origin)
    }

    /// `handle` for a sink that takes its outputs through `complete(batch:_:)`, called from
    /// inside the actor so they stay in order with every `publish` to it.
    public func handle(_ requests: [TaskRequest], batch: UInt64, from origin: TaskEventSink) {
        origin.complete(batch: batch, handle(requests, from: origin))
    }

    /// Deadlines (leases, timeouts, stalls) and retention; the loop calls it a few times a second.
    /// While the store is failing nothing fires (a deadline's change could not be stored): the
    /// tick probes the store instead, and what is due fires on the first tick after it works.
    public func tick() {
        let now = clock()
        if storeFailing {
            probeStore(now: now)
            if storeFailing { return }
        }
        beginTurn()
        fireDeadlines(now: now)
        enforceRetention(now: now)
        if commitTurn(now: now) != nil { pendingOutputs.removeAll(keepingCapacity: true) }
        flushEvents(except: nil)
    }

    func reply(to request: TaskRequest, now: Int64) -> TaskReply {
        switch request {
        case .operation(let op):
            do { return try apply(op, now: now) } catch { return .failure(error) }
        case .get(let id):
            guard let box = tasks.box(id) else { return .failure(.notFound(id)) }
            return .task(json: box.json ?? box.record.json, seq: box.record.seq, status: box.record.status)
        case .list(let owner, let statuses, let limit):
            return .list(json: list(owner: owner, statuses: statuses, limit: limit))
        case .subscribe(let topic, let since, let epoch):
            return .subscription(messages: subscribe(topic: topic, since: since, epoch: epoch))
        case .stats:
            return .stats(stats)
        case .batch(let batch):
            return batchReply(batch, visibleTo: nil, now: now)
        case .statistics(let owner, let windowSeconds):
            return .statistics(json: statistics(owner: owner, windowSeconds: windowSeconds, now: now))
        case .scoped(let owner, let inner):
            return reply(to: inner, visibleTo: owner, now: now)
        }
    }

    @discardableResult
    func flushEvents(except origin: TaskEventSink?) -> [HubOutput] {
        guard !pendingOutputs.isEmpty else { return [] }
        let outputs = pendingOutputs
        pendingOutputs.removeAll(keepingCapacity: true)
        // The events array only when another sink takes it: a standalone server's only sink
        // is the loop whose batch this is, which reads the events from `outputs`.
        guard sinks.contains(where: { $0 !== origin }) else {
            for case .event in outputs { eventsPublished += 1 }
            return outputs
        }
        var events: [PublishedEvent] = []
        for case .event(let event) in outputs { events.append(event) }
        eventsPublished += UInt64(events.count)
        if !events.isEmpty {
            for sink in sinks where sink !== origin { sink.publish(events) }
        }
        return outputs
    }

    // MARK: Operations

    func apply(_ op: TaskOperation, now: Int64) throws(TaskError) -> TaskReply {
        switch op {
        case .create(let input):
            return try create(input, now: now)
        case .delete(let id):
            guard let task = tasks[id] else { throw .notFound(id) }
            guard task.status.isTerminal else {
                throw .invalidTransition("delete", from: task.status, hint: "only succeeded, failed or cancelled tasks can be deleted")
            }
            let seq = remove(id)
            return .deleted(id: id, seq: seq)
        default:
            guard let id = op.taskID, var task = tasks[id] else { throw .notFound(op.taskID ?? "") }
            let before = task.status
            let wasStale = task.stale
            let event: TaskEventName?
            let json: [UInt8]
            switch op {
            case .start: event = try task.start(now: now)
            case .progress(_, let input): event = try task.report(input, now: now)
            case .heartbeat: event = try task.heartbeat(now: now)
            case .complete(_, let message, let result): event = try task.complete(message: message, result: result, now: now)
            case .fail(_, let failure): event = try task.fail(failure, now: now)
            case .cancel: event = try task.cancel(now: now)
            case .confirmCancelled: event = try task.confirmCancelled(now: now)
            case .retry: event = try task.retry(now: now)
            case .create, .delete: fatalError("handled above")
            }
            if let event {
                try admitTransition(of: task, from: before)
                json = commit(&task, event: event, previous: before)
            } else {
                // A plain heartbeat: the lease moved, nobody is told (nor the disk), but the
                // answer and later reads show the renewed heartbeat_at.
                journal(id)
                json = task.json(scratch: &encodeScratch, times: &encodeTimes)
                tasks.set(task, json: json)
                staging?.noteHeartbeat(task, json: json)
            }
            // The heap only held the expiry deadline while the task was stale: watch the lease again.
            if wasStale && !task.stale, let deadline = task.leaseDeadline { deadlines.push(deadline, id, .lease) }
            return .task(json: json, seq: task.seq, status: task.status)
        }
    }

    private func create(_ input: CreateInput, now: Int64) throws(TaskError) -> TaskReply {
        let id = input.id ?? generateID()
        guard tasks[id] == nil else { throw .alreadyExists(id) }
        try admitCreate(owner: input.owner, now: now)
        if tasks.count >= configuration.maxTasks {
            evictOldestTerminal(now: now)
            guard tasks.count < configuration.maxTasks else {
                throw TaskError(status: 429, code: "too_many_tasks",
                                message: "\(configuration.maxTasks) tasks are held and none is finished; delete or finish some first")
            }
        }
        var task = TaskRecord(id: id, title: input.title, owner: input.owner, total: input.total,
                              leaseSeconds: input.leaseSeconds, expireSeconds: input.expireSeconds, meta: input.meta, now: now)
        task.timeoutSeconds = input.timeout.resolved(default: configuration.defaultTimeoutSeconds)
        task.stallSeconds = input.stall.resolved(default: configuration.defaultStallSeconds)
        ownerIndex.insert(id, owner: task.owner)
        let json = commit(&task, event: .created, previous: nil)
        recordCreate(owner: task.owner, now: now)
        return .task(json: json, seq: task.seq, status: task.status)
    }

    func generateID() -> String {
        var rng = SystemRandomNumberGenerator()
        while true {
            let id = String(UInt64.random(in: 0...UInt64.max, using: &rng), radix: 16)
            if tasks[id] == nil { return id }
        }
    }

    /// Assigns the next seq, stores and encodes the task, records the event for resume and
    /// queues it for publishing. Returns the task's JSON.
    @discardableResult
    func commit(_ task: inout TaskRecord, event: TaskEventName, previous: TaskStatus?) -> [UInt8] {
        journal(task.id)
        seq += 1
        task.seq = seq
        let json = task.json(scratch: &encodeScratch, times: &encodeTimes)
        staging?.note(task, json: json, event: event, previous: previous)
        install(task, json: json, event: event, previous: previous)
        return json
    }

    /// Puts a changed task in place, its seq (`self.seq`) already assigned: a change made here,
    /// or one another host committed (TaskHub+Follower).
    func install(_ task: TaskRecord, json: [UInt8], event: TaskEventName, previous: TaskStatus?) {
        tasks.set(task, json: json)
        if task.status.isTerminal { activeSeq.removeValue(forKey: task.id) } else { activeSeq[task.id] = seq }
        if previous != task.status {
            if let previous { statusCounts[previous, default: 0] -= 1 }
            statusCounts[task.status, default: 0] += 1
            noteOwnerStatus(of: task.id, owner: task.owner, from: previous, to: task.status)
            if task.status.isTerminal {
                terminalOrder.append((task.id, seq))
                durationHistograms.observe(task)
            }
            // Entering running: its deadlines start. Entries left from an earlier attempt are
            // re-checked against this one when they come due.
            if task.status.holdsLease, previous?.holdsLease != true { scheduleDeadlines(of: task) }
        }
        let entry = HistoryEntry(seq: seq, kind: .task, taskID: task.id, owner: task.owner, isProgress: event == .progress,
                                 body: TaskEventEncoder.taskBody(seq: seq, event: event, taskJSON: json))
        storeChange(for: task, json: json, entry: entry)
        record(entry, taskJSON: json)
    }

    /// Removes a task (delete, retention) and pushes `removed`.
    @discardableResult
    func remove(_ id: String) -> UInt64 {
        journal(id)
        guard let task = tasks[id] else { return seq }
        seq += 1
        staging?.noteRemoval(task)
        uninstall(task)
        return seq
    }

    /// Takes a task out, `self.seq` already assigned to its `removed` event.
    func uninstall(_ task: TaskRecord) {
        let id = task.id
        tasks.removeValue(forKey: id)
        activeSeq.removeValue(forKey: id)
        statusCounts[task.status, default: 0] -= 1
        noteOwnerStatus(of: id, owner: task.owner, from: task.status, to: nil)
        ownerIndex.remove(id, owner: task.owner)
        let entry = HistoryEntry(seq: seq, kind: .removed, taskID: id, owner: task.owner, isProgress: false,
                                 body: TaskEventEncoder.removedBody(seq: seq, id: id))
        storeRemoval(of: id, entry: entry)
        record(entry, taskJSON: nil)
    }

    private func record(_ entry: HistoryEntry, taskJSON: [UInt8]?) {
        if history.count == history.capacity, journaling, let overwritten = history.oldest { turn.historyOverwritten.append(overwritten) }
        history.append(entry)
        pendingOutputs.append(.event(PublishedEvent(entry, taskJSON: taskJSON)))
    }
}
