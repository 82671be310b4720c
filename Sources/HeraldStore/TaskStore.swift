// The persistence boundary of the task engine. The task actor (HeraldTasks) owns every rule
// about tasks, seq and epoch; a store only keeps what it is given — task JSON, event payloads
// and a few numbers — and gives it back at start-up. Two implementations share these
// semantics and one conformance suite (Tests/HeraldStoreTests): `SQLiteTaskStore` (SQLite in
// WAL mode through GRDB, `--data DIR`) and `MemoryTaskStore` (tests); `--data :memory:` uses
// `NullTaskStore`, which keeps nothing (the actor holds it all already).

/// One task as the actor serialised it. `json` is opaque here; `status`, `seq` and
/// `updatedAtMs` are kept beside it so that a future query (retention, counts) needs no JSON.
public struct StoredTask: Sendable, Equatable {
    public var id: String
    public var json: [UInt8]
    public var status: String
    public var seq: UInt64
    public var updatedAtMs: Int64

    public init(id: String, json: [UInt8], status: String, seq: UInt64, updatedAtMs: Int64) {
        self.id = id
        self.json = json
        self.status = status
        self.seq = seq
        self.updatedAtMs = updatedAtMs
    }
}

/// One event of the history ring (what a resuming client is sent). `payload` is the event's
/// JSON, opaque here.
public struct StoredEvent: Sendable, Equatable {
    public var seq: UInt64
    public var taskID: String
    public var owner: String?
    public var payload: [UInt8]

    public init(seq: UInt64, taskID: String, owner: String?, payload: [UInt8]) {
        self.seq = seq
        self.taskID = taskID
        self.owner = owner
        self.payload = payload
    }
}

/// Everything a store gives back at start-up.
public struct StoredState: Sendable {
    /// Every stored task, in no particular order.
    public var tasks: [StoredTask]
    /// The history ring, ascending `seq`; only events of the current `epoch` (see `commit`).
    public var events: [StoredEvent]
    /// The `seq` of the last commit (0 when the store is new).
    public var seq: UInt64
    /// The `epoch` of the last commit; nil when the store is new.
    public var epoch: String?
    /// True when the previous process called `markCleanShutdown()` after its last commit;
    /// false after a crash (kill -9, power loss) and for a new store.
    public var cleanShutdown: Bool

    public init(tasks: [StoredTask], events: [StoredEvent], seq: UInt64, epoch: String?, cleanShutdown: Bool) {
        self.tasks = tasks
        self.events = events
        self.seq = seq
        self.epoch = epoch
        self.cleanShutdown = cleanShutdown
    }
}

public enum StoreChange: Sendable, Equatable {
    /// Inserts the task, or replaces the stored one with the same id.
    case upsertTask(StoredTask)
    /// Deletes the task; deleting an unknown id is not an error.
    case deleteTask(id: String)
    /// Appends an event to the history ring; an event with the same `seq` is replaced.
    case appendEvent(StoredEvent)
}

/// What the task actor persists through. Calls come from one caller at a time (the actor's
/// executor), but every implementation is safe to call from any thread.
///
/// Crash semantics, for the actor's seq/epoch rule (contract: a `seq` is never reused within
/// an epoch):
/// - every commit is atomic: after any crash, each commit is either wholly there or absent;
/// - what survives is always a *prefix* of the commits, in order;
/// - after `kill -9` every commit that returned survives, durable or not;
/// - after a power loss or an OS crash, every `durable: true` commit that returned survives,
///   and so does every commit before it; non-durable commits after the last durable one may
///   be lost. `cleanShutdown == false` on the next `load()` is the hint that this may have
///   happened (the actor then starts a new epoch, or proves the history complete).
///
/// Every method throws `StoreError` only.
public protocol TaskStore: AnyObject, Sendable {
    /// Reads everything back; called once at start-up. Also marks the store as running (not
    /// cleanly shut down) durably before returning.
    func load() throws -> StoredState
    /// `load()`, handing each task's JSON to `eachJSON` as it is read instead of returning the
    /// tasks in `tasks` (left empty): a restart then never holds every task's JSON at once
    /// (100,000 tasks: ~60 MB that malloc would keep, fragmented, after the load), and copies
    /// only what it keeps. The bytes are valid only during the call (SQLite's own buffer).
    /// `expecting` is told how many tasks follow first, to make room once.
    func load(expecting: (Int) -> Void, eachJSON: (UnsafeBufferPointer<UInt8>) -> Void) throws -> StoredState
    /// Applies the changes in ONE transaction and records `seq` and `epoch` with them.
    /// `durable: true` = the commit is on disk (fsync'd) when this returns — for lifecycle
    /// changes before their 2xx; `durable: false` is cheaper (progress batches).
    /// When `epoch` differs from the stored one, the stored events (the old epoch's history)
    /// are dropped first, in the same transaction: a history belongs to one epoch.
    /// A commit also clears the clean-shutdown mark.
    func commit(_ changes: [StoreChange], seq: UInt64, epoch: String, durable: Bool) throws
    /// Trims the event history to the newest `keep` events (`keep <= 0` drops them all).
    func trimEvents(keep: Int) throws
    /// Records a clean shutdown, durably (the last call before exit).
    func markCleanShutdown() throws
    /// True for a store that drops every commit (`NullTaskStore`): the actor then builds no
    /// changes for it at all (no stored copy of each event per report).
    var keepsNothing: Bool { get }
}

extension TaskStore {
    public var keepsNothing: Bool { false }
}

extension TaskStore {
    public func load(expecting: (Int) -> Void, eachJSON: (UnsafeBufferPointer<UInt8>) -> Void) throws -> StoredState {
        var state = try load()
        expecting(state.tasks.count)
        for task in state.tasks { task.json.withUnsafeBufferPointer(eachJSON) }
        state.tasks = []
        return state
    }
}

/// A store failure, as one line for the CLI and the logs:
/// `cannot open --data DIR: reason`, `cannot write --data DIR: reason`.
public struct StoreError: Error, CustomStringConvertible, Equatable {
    public let description: String

    public init(description: String) {
        // One line, whatever SQLite or the OS said.
        self.description = description.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
