import Foundation

/// A store that keeps everything in this process and nothing across processes: for tests of
/// the actor, and the reference the conformance suite holds `SQLiteTaskStore` to. Same
/// semantics as `SQLiteTaskStore` within one process ("durable" is meaningless here).
public final class MemoryTaskStore: TaskStore, @unchecked Sendable {
    // @unchecked: every access to `state` holds `lock`.
    private let lock = NSLock()
    private var state = State()

    private struct State {
        var tasks: [String: StoredTask] = [:]
        var events: [StoredEvent] = []  // ascending seq
        var seq: UInt64 = 0
        var epoch: String?
        var cleanShutdown = false
    }

    public init() {}

    public func load() throws(StoreError) -> StoredState {
        lock.withLock {
            let loaded = StoredState(
                tasks: Array(state.tasks.values), events: state.events, seq: state.seq,
                epoch: state.epoch, cleanShutdown: state.cleanShutdown)
            state.cleanShutdown = false
            return loaded
        }
    }

    public func commit(_ changes: [StoreChange], seq: UInt64, epoch: String, durable: Bool) throws(StoreError) {
        lock.withLock {
            if let old = state.epoch, old != epoch {
                state.events.removeAll()
            }
            for change in changes {
                switch change {
                case .upsertTask(let task):
                    state.tasks[task.id] = task
                case .deleteTask(let id):
                    state.tasks[id] = nil
                case .appendEvent(let event):
                    Self.insert(event, into: &state.events)
                }
            }
            state.seq = seq
            state.epoch = epoch
            state.cleanShutdown = false
        }
    }

    public func trimEvents(keep: Int) throws(StoreError) {
        lock.withLock {
            let excess = state.events.count - max(keep, 0)
            if excess > 0 { state.events.removeFirst(excess) }
        }
    }

    public func markCleanShutdown() throws(StoreError) {
        lock.withLock { state.cleanShutdown = true }
    }

    /// Keeps `events` sorted by seq; an event with a seq already present replaces it (as
    /// SQLite's INSERT OR REPLACE does). Appending in order, the usual case, is O(1).
    private static func insert(_ event: StoredEvent, into events: inout [StoredEvent]) {
        guard let last = events.last, last.seq >= event.seq else {
            events.append(event)
            return
        }
        var low = 0
        var high = events.count
        while low < high {
            let mid = (low + high) / 2
            if events[mid].seq < event.seq { low = mid + 1 } else { high = mid }
        }
        if events[low].seq == event.seq {
            events[low] = event
        } else {
            events.insert(event, at: low)
        }
    }
}
