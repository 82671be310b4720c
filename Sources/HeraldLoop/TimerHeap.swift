/// Identifies a scheduled timer so it can be cancelled.
public struct TimerID: Hashable, Sendable {
    let raw: UInt64
}

/// A binary min-heap of deadlines. Cancelling removes the callback from a table; its heap entry
/// is skipped when it reaches the top (lazy deletion keeps cancel O(1), which matters because
/// most timers — read and idle timeouts — are cancelled or pushed back long before they fire).
struct TimerHeap {
    private struct Entry {
        var deadline: UInt64
        var id: UInt64
    }

    private var heap: [Entry] = []
    private var callbacks: [UInt64: () -> Void] = [:]
    private var nextID: UInt64 = 1

    var count: Int { callbacks.count }

    mutating func schedule(at deadline: UInt64, _ callback: @escaping () -> Void) -> TimerID {
        let id = nextID
        nextID += 1
        callbacks[id] = callback
        heap.append(Entry(deadline: deadline, id: id))
        siftUp(heap.count - 1)
        return TimerID(raw: id)
    }

    mutating func cancel(_ timer: TimerID) {
        callbacks.removeValue(forKey: timer.raw)
        // Drop dead entries at the top now, so `earliestDeadline` stays truthful.
        dropCancelledTop()
    }

    /// The deadline of the earliest live timer.
    var earliestDeadline: UInt64? { heap.first?.deadline }

    /// Removes and returns the callbacks of every timer due at `now`, earliest first.
    mutating func popExpired(now: UInt64) -> [() -> Void] {
        var due: [() -> Void] = []
        while let top = heap.first, top.deadline <= now {
            popTop()
            if let cb = callbacks.removeValue(forKey: top.id) { due.append(cb) }
        }
        dropCancelledTop()
        return due
    }

    private mutating func dropCancelledTop() {
        while let top = heap.first, callbacks[top.id] == nil { popTop() }
        // Many cancelled entries deep in the heap: rebuild rather than let it grow.
        if heap.count > 64 && heap.count > 2 * callbacks.count {
            heap.removeAll { callbacks[$0.id] == nil }
            for i in stride(from: heap.count / 2 - 1, through: 0, by: -1) { siftDown(i) }
        }
    }

    private mutating func popTop() {
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
    }

    private mutating func siftUp(_ index: Int) {
        var i = index
        while i > 0 {
            let parent = (i - 1) / 2
            if heap[parent].deadline <= heap[i].deadline { break }
            heap.swapAt(parent, i)
            i = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var i = index
        while true {
            let l = 2 * i + 1, r = l + 1
            var smallest = i
            if l < heap.count && heap[l].deadline < heap[smallest].deadline { smallest = l }
            if r < heap.count && heap[r].deadline < heap[smallest].deadline { smallest = r }
            if smallest == i { return }
            heap.swapAt(i, smallest)
            i = smallest
        }
    }
}
