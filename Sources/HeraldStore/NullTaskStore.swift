/// `--data :memory:`: no store at all. The task actor already holds every task, its JSON and
/// the history ring in memory; a store that kept them too (an in-memory SQLite database or a
/// `MemoryTaskStore`) would only be a second copy of everything — for nothing, since it dies
/// with the process. Commits are accepted and dropped, `load()` finds nothing (a new store:
/// seq 0, no epoch, not cleanly shut down), trims and the clean-shutdown mark are no-ops.
public final class NullTaskStore: TaskStore {
    public init() {}

    public func load() throws(StoreError) -> StoredState {
        StoredState(tasks: [], events: [], seq: 0, epoch: nil, cleanShutdown: false)
    }

    public func commit(_ changes: [StoreChange], seq: UInt64, epoch: String, durable: Bool) throws(StoreError) {}

    public func trimEvents(keep: Int) throws(StoreError) {}

    public func markCleanShutdown() throws(StoreError) {}

    public var keepsNothing: Bool { true }
}

/// How `--data` chooses the store, for `herald serve` and `herald broker` alike.
public enum TaskStores {
    /// `--data :memory:` keeps nothing.
    public static let inMemory = ":memory:"

    /// `:memory:` → `NullTaskStore` (the task actor's own memory is the only copy); a directory
    /// → `SQLiteTaskStore` there. Fails with one line, `cannot open --data DIR: reason`.
    public static func open(directory: String) throws(StoreError) -> any TaskStore {
        if directory == inMemory { return NullTaskStore() }
        return try SQLiteTaskStore(directory: directory)
    }
}
