import HeraldStore
import HeraldWire

extension TaskHub {
    /// Loads tasks, seq and epoch from the store. After a clean stop the epoch and the history
    /// continue; after a crash (or for a new database) a new epoch starts, because progress
    /// events published just before the crash may not have reached the disk: a client resuming
    /// from one of them must get a `recovered: false` snapshot, never a wrong state.
    public func restore() throws -> RestoreReport {
        try restore(readStore())
    }

    /// The store's read and the tasks made from it, on the calling thread (`restore(_:)` then
    /// puts them in place on the actor). A server calls this from its main thread: everything a
    /// restart allocates then comes from the main arena, which glibc grows with `brk` and a pad,
    /// where a pool thread's arena is grown one `mprotect` per page (6 % of a restart).
    public nonisolated func readStore() throws -> StoredTasks {
        // Tasks are put in place as the store reads them: a restart never holds all their
        // JSON at once next to the records made from it.
        var load = TaskLoad(ownerLimits: OwnerLimits(configuration))
        let state = try store.load(expecting: { load.tasks.reserveCapacity($0) }, eachJSON: { load.add($0) })
        return StoredTasks(load: load, state: state)
    }

    /// `restore()` from a `readStore()` made elsewhere (taken once).
    public func restore(_ read: StoredTasks) throws -> RestoreReport {
        var (load, state) = read.take()
        let skipped = adopt(&load)
        seq = max(state.seq, load.maxSeq)
        let continued = state.cleanShutdown && state.epoch != nil
        epoch = continued ? state.epoch! : Self.newEpoch()
        var restoredEvents = 0
        if continued, state.events.last?.seq == seq {
            for event in state.events {
                guard let entry = HistoryEntry(stored: event), history.newestSeq.map({ entry.seq == $0 + 1 }) ?? true else {
                    history = HistoryRing(capacity: configuration.historySize)  // a gap: keep nothing
                    restoredEvents = 0
                    break
                }
                history.append(entry)
                restoredEvents += 1
            }
        }
        scheduleAllDeadlines()
        // Record the (possibly new) epoch at once, so a crash before the first change keeps it.
        try store.commit([], seq: seq, epoch: epoch, durable: true)
        return RestoreReport(tasks: tasks.count, skipped: skipped, seq: seq, epoch: epoch, epochContinued: continued,
                             historyEvents: restoredEvents)
    }

    /// Puts stored tasks in place (a mirror loaded from its authority); returns how many could
    /// not be read.
    func load(tasks stored: [[UInt8]]) -> Int {
        var load = TaskLoad(ownerLimits: ownerLimits)
        load.tasks.reserveCapacity(stored.count)
        for json in stored { json.withUnsafeBufferPointer { load.add($0) } }
        return adopt(&load)
    }

    /// Takes a load's tables as the hub's own (a new hub holds no tasks yet); returns how many
    /// tasks could not be read.
    private func adopt(_ load: inout TaskLoad) -> Int {
        precondition(tasks.count == 0, "a load fills a hub that holds no tasks")
        tasks = load.tasks
        statusCounts = load.statusCounts
        ownerLimits = load.ownerLimits
        ownerStatusCounts = load.ownerStatusCounts
        activeSeq = load.activeSeq
        ownerIndex.forget()  // built from the table when first read (`ownerIDs`)
        // The order finished tasks finished in, sorted once from (time, seq, id) triples rather
        // than whole records; taken out of the load (not copied), and not sorted when the rows
        // came in that order already (a store's rows mostly do: 90,000 triples, 4 % of a restart).
        var finished: [(at: Int64, seq: UInt64, id: String)] = []
        swap(&finished, &load.finished)
        var sorted = true
        for i in finished.indices.dropFirst() where (finished[i].at, finished[i].seq) < (finished[i - 1].at, finished[i - 1].seq) {
            sorted = false
            break
        }
        if !sorted { finished.sort { ($0.at, $0.seq) < ($1.at, $1.seq) } }
        terminalOrder = finished.map { (id: $0.id, seq: $0.seq) }
        terminalOrderStart = 0
        return load.skipped
    }

    /// The ids of `owner`'s held tasks, building the owner index first after a load.
    func ownerIDs(_ owner: String) -> Set<String> {
        if !ownerIndex.isBuilt { ownerIndex.build(from: tasks.allBoxes.map { (id: $0.record.id, owner: $0.record.owner) }) }
        return ownerIndex.ids(of: owner)
    }

    /// The last call before exit: the next start continues this epoch.
    public func shutdown() throws {
        try persist()
        try store.markCleanShutdown()
    }

    /// Writes the changes of the batch in one transaction, fsync'd when it holds a lifecycle
    /// change (those are durable before their 2xx); a batch of progress only is not synced.
    func persist() throws {
        guard !pendingChanges.isEmpty else { return }
        let changes = pendingChanges
        let durable = pendingDurable
        pendingChanges.removeAll(keepingCapacity: true)
        pendingDurable = false
        try store.commit(changes, seq: seq, epoch: epoch, durable: durable)
        commitsSinceTrim += 1
        if commitsSinceTrim >= 1_000 {
            // The commit is in: a failed trim must not count as a failed commit (that would roll
            // back what the store holds). It is tried again after the next commit.
            if (try? store.trimEvents(keep: configuration.historySize)) != nil { commitsSinceTrim = 0 }
        }
    }

    func storeChange(for task: TaskRecord, json: [UInt8], entry: HistoryEntry) {
        guard !store.keepsNothing else { return }  // `--data :memory:`: the commit would drop them
        pendingChanges.append(.upsertTask(StoredTask(id: task.id, json: json, status: task.status.rawValue, seq: task.seq,
                                                     updatedAtMs: task.updatedAt)))
        pendingChanges.append(.appendEvent(entry.stored))
        if !entry.isProgress { pendingDurable = true }
    }

    func storeRemoval(of id: String, entry: HistoryEntry) {
        guard !store.keepsNothing else { return }
        pendingChanges.append(.deleteTask(id: id))
        pendingChanges.append(.appendEvent(entry.stored))
        pendingDurable = true
    }
}

public struct RestoreReport: Sendable {
    public let tasks: Int
    public let skipped: Int
    public let seq: UInt64
    public let epoch: String
    public let epochContinued: Bool
    public let historyEvents: Int
}

extension HistoryEntry {
    /// Stored as one kind byte ("t" task, "r" removed), one progress byte (0/1), then the body.
    var stored: StoredEvent {
        var payload: [UInt8] = [kind == .removed ? UInt8(ascii: "r") : UInt8(ascii: "t"), isProgress ? 1 : 0]
        payload.append(contentsOf: body)
        return StoredEvent(seq: seq, taskID: taskID, owner: owner, payload: payload)
    }

    init?(stored: StoredEvent) {
        guard stored.payload.count > 2 else { return nil }
        let kind: Kind
        switch stored.payload[0] {
        case UInt8(ascii: "t"): kind = .task
        case UInt8(ascii: "r"): kind = .removed
        default: return nil
        }
        self.init(seq: stored.seq, kind: kind, taskID: stored.taskID, owner: stored.owner, isProgress: stored.payload[1] == 1,
                  body: Array(stored.payload[2...]))
    }
}

/// A stored history event as its parts (for moving a store elsewhere: `herald redis-import`).
public struct StoredEventParts: Sendable, Equatable {
    /// A `TaskEventName` raw value, or "removed".
    public var event: String
    /// The task's JSON (nil for `removed`).
    public var taskJSON: [UInt8]?

    /// Reads `event`'s payload; nil when it is not one this version wrote.
    public init?(_ event: StoredEvent) {
        guard let entry = HistoryEntry(stored: event) else { return nil }
        if entry.kind == .removed {
            self.event = "removed"
            taskJSON = nil
            return
        }
        // The body is `,"seq":N,"event":"E","task":{…}}` (TaskEventEncoder.taskBody).
        let head = Array(#","seq":\#(event.seq),"event":""#.utf8)
        let body = entry.body
        guard body.starts(with: head), let quote = body[head.count...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        let name = String(decoding: body[head.count..<quote], as: UTF8.self)
        let taskHead = Array(#"","task":"#.utf8)
        guard TaskEventName(rawValue: name) != nil, body[quote...].starts(with: taskHead), body.last == UInt8(ascii: "}") else { return nil }
        self.event = name
        taskJSON = Array(body[(quote + taskHead.count)..<(body.count - 1)])
    }
}

/// What a load builds from the stored tasks before a hub takes it (`TaskHub.adopt`): the same
/// tables the hub keeps, filled as `install` would for each task. The counts by status are
/// tallied in fixed arrays and turned into the hub's dictionaries once at the end: hashing a
/// status and an owner's nested dictionary per task was 7 % of a restart's instructions.
struct TaskLoad {
    var tasks = TaskTable()
    var ownerLimits: OwnerLimits
    var activeSeq: [String: UInt64] = [:]
    var finished: [(at: Int64, seq: UInt64, id: String)] = []
    var skipped = 0
    var maxSeq: UInt64 = 0
    private var statusTally = StatusTally()
    private var ownerTallies: [String: StatusTally] = [:]

    init(ownerLimits: OwnerLimits) {
        self.ownerLimits = ownerLimits
    }

    /// One stored task. `json` is borrowed (the store's buffer): copied only for an active task,
    /// which keeps it.
    mutating func add(_ json: UnsafeBufferPointer<UInt8>) {
        guard let task = TaskRecord.decode(json: json) else {
            skipped += 1
            return
        }
        // The stored bytes are the task's JSON: an active task keeps them (TaskTable); a
        // finished one keeps none, so its bytes are not copied at all.
        tasks.set(task, json: task.status.isTerminal ? [] : Array(json))
        statusTally.add(task.status)
        ownerLimits.noteStatus(of: task.id, owner: task.owner, from: nil, to: task.status)
        if let owner = task.owner { ownerTallies[owner, default: StatusTally()].add(task.status) }
        if task.status.isTerminal {
            finished.append((task.finishedAt ?? task.updatedAt, task.seq, task.id))
        } else {
            activeSeq[task.id] = task.seq
        }
        maxSeq = max(maxSeq, task.seq)
    }

    /// How many loaded tasks are in each status (statuses with none are absent, as when each
    /// task is counted in by `install`).
    var statusCounts: [TaskStatus: Int] { statusTally.counts }

    /// The same per named owner.
    var ownerStatusCounts: OwnerStatusCounts {
        OwnerStatusCounts(ownerTallies.mapValues(\.counts))
    }
}

/// A count per status in a fixed array: the load's tally, without hashing per task.
private struct StatusTally {
    private var byStatus = [Int](repeating: 0, count: TaskStatus.allCases.count)

    mutating func add(_ status: TaskStatus) { byStatus[status.tallyIndex] += 1 }

    var counts: [TaskStatus: Int] {
        var counts: [TaskStatus: Int] = [:]
        for status in TaskStatus.allCases where byStatus[status.tallyIndex] > 0 { counts[status] = byStatus[status.tallyIndex] }
        return counts
    }
}

private extension TaskStatus {
    var tallyIndex: Int {
        switch self {
        case .queued: 0
        case .running: 1
        case .succeeded: 2
        case .failed: 3
        case .cancelling: 4
        case .cancelled: 5
        }
    }
}

/// A store's read (`TaskHub.readStore`), handed from the thread that read it to the hub's
/// `restore(_:)`. `@unchecked Sendable` because the tables inside hold class references: sound
/// because it is built by one thread, which keeps no reference to its contents once it hands it
/// over, and `take()` gives the contents out exactly once (a second take is a programming error
/// and stops the process); the hand-over is checked under ThreadSanitizer by
/// `TaskHubRestoreTests`.
public final class StoredTasks: @unchecked Sendable {
    private var contents: (load: TaskLoad, state: StoredState)?

    init(load: TaskLoad, state: StoredState) {
        contents = (load, state)
    }

    func take() -> (load: TaskLoad, state: StoredState) {
        guard let contents else { preconditionFailure("a store's read is restored once") }
        self.contents = nil
        return contents
    }
}
