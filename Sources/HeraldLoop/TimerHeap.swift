import HeapModule

/// Identifies a scheduled timer so it can be cancelled.
public struct TimerID: Hashable, Sendable {
    let raw: UInt64
}

/// Timer deadlines in a min-heap (swift-collections' `Heap`). Cancelling removes the callback
/// from a table; its heap entry is skipped when it reaches the top (lazy deletion keeps cancel
/// O(1), which matters because most timers — read and idle timeouts — are cancelled or pushed
/// back long before they fire).
struct TimerHeap {
    private struct Entry: Comparable {
        var deadline: UInt64
        var id: UInt64
        static func < (a: Entry, b: Entry) -> Bool { (a.deadline, a.id) < (b.deadline, b.id) }
    }

    private var heap = Heap<Entry>()
    private var callbacks: [UInt64: () -> Void] = [:]
    private var nextID: UInt64 = 1

    var count: Int { callbacks.count }

    mutating func schedule(at deadline: UInt64, _ callback: @escaping () -> Void) -> TimerID {
        let id = nextID
        nextID += 1
        callbacks[id] = callback
        heap.insert(Entry(deadline: deadline, id: id))
        return TimerID(raw: id)
    }

    mutating func cancel(_ timer: TimerID) {
        callbacks.removeValue(forKey: timer.raw)
        // Drop dead entries at the top now, so `earliestDeadline` stays truthful.
        dropCancelledTop()
    }

    /// The deadline of the earliest live timer.
    var earliestDeadline: UInt64? { heap.min?.deadline }

    /// Removes and returns the callbacks of every timer due at `now`, earliest first.
    mutating func popExpired(now: UInt64) -> [() -> Void] {
        var due: [() -> Void] = []
        while let top = heap.min, top.deadline <= now {
            heap.removeMin()
            if let cb = callbacks.removeValue(forKey: top.id) { due.append(cb) }
        }
        dropCancelledTop()
        return due
    }

    private mutating func dropCancelledTop() {
        while let top = heap.min, callbacks[top.id] == nil { heap.removeMin() }
        // Many cancelled entries deep in the heap: rebuild rather than let it grow.
        if heap.count > 64 && heap.count > 2 * callbacks.count {
            heap = Heap(heap.unordered.filter { callbacks[$0.id] != nil })
        }
    }
}
