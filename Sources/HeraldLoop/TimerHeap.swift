import HeapModule

/// Identifies a scheduled timer so it can be cancelled.
public struct TimerID: Hashable, Sendable {
    let raw: UInt64
    /// Names no timer (ids start at 1): cancelling it does nothing.
    public static let none = TimerID(raw: 0)
}

/// An object the loop calls when a timer armed for it comes due (`EventLoop.armTimer`): the
/// per-connection timers (idle, ping, close handshake) without a closure or a weak reference
/// per connection — the heap entry names a slot, the slot holds the target.
public protocol LoopTimerTarget: AnyObject {
    /// Runs on the loop thread; the timer is already disarmed (`EventLoop.isArmed` is false).
    func loopTimerFired()
}

/// A timer armed for a `LoopTimerTarget`: a slot of the loop's timer table and the slot's
/// generation when it was armed. Once it fires or is disarmed the slot's generation moves on,
/// so a stale handle (or a stale heap entry) can never reach the slot's next owner.
public struct LoopTimer: Hashable, Sendable {
    let slot: UInt32
    let generation: UInt32
    /// A handle that names no timer.
    public static let none = LoopTimer(slot: .max, generation: 0)
}

/// Timer deadlines in a min-heap (swift-collections' `Heap`). Two kinds share the heap:
/// closure timers (`schedule`), whose callback sits in a table by id, and target timers (`arm`),
/// whose target sits in a slot array reused through a free list. Cancelling removes the callback
/// or frees the slot; the heap entry is skipped when it reaches the top (lazy deletion keeps
/// cancel O(1), which matters because most timers — read and idle timeouts — are cancelled or
/// pushed back long before they fire).
struct TimerHeap {
    /// `id`: a closure timer's id (top bit clear), or a target timer's `1 << 63 | slot << 32 | generation`.
    private struct Entry: Comparable {
        var deadline: UInt64
        var id: UInt64
        static func < (a: Entry, b: Entry) -> Bool { (a.deadline, a.id) < (b.deadline, b.id) }
    }

    private struct Slot {
        var target: (any LoopTimerTarget)?
        var generation: UInt32 = 0
        /// Next free slot while this one is free; -1 ends the list.
        var nextFree: Int32 = -1
    }

    /// What came due: run in order by the loop.
    enum Due {
        case callback(() -> Void)
        case target(any LoopTimerTarget)
    }

    private static let targetBit: UInt64 = 1 << 63

    private var heap = Heap<Entry>()
    private var callbacks: [UInt64: () -> Void] = [:]
    private var nextID: UInt64 = 1
    private var slots: [Slot] = []
    private var firstFreeSlot: Int32 = -1
    private var armedTargets = 0

    var count: Int { callbacks.count + armedTargets }

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

    /// Arms a timer that calls `target.loopTimerFired()` at `deadline`. The slot keeps the
    /// target alive (a strong reference) until the timer fires or is disarmed.
    mutating func arm(_ target: any LoopTimerTarget, at deadline: UInt64) -> LoopTimer {
        let slot: Int
        if firstFreeSlot >= 0 {
            slot = Int(firstFreeSlot)
            firstFreeSlot = slots[slot].nextFree
        } else {
            precondition(slots.count < Int(Int32.max), "timer slots exhausted")
            slot = slots.count
            slots.append(Slot())
        }
        slots[slot].target = target
        slots[slot].nextFree = -1
        armedTargets += 1
        let timer = LoopTimer(slot: UInt32(slot), generation: slots[slot].generation)
        heap.insert(Entry(deadline: deadline, id: Self.targetBit | UInt64(timer.slot) << 32 | UInt64(timer.generation)))
        return timer
    }

    /// Disarms `timer`; a handle that already fired, was disarmed, or is `.none` changes nothing.
    mutating func disarm(_ timer: LoopTimer) {
        guard isArmed(timer) else { return }
        release(slot: Int(timer.slot))
        dropCancelledTop()
    }

    func isArmed(_ timer: LoopTimer) -> Bool {
        Int(timer.slot) < slots.count && slots[Int(timer.slot)].generation == timer.generation
            && slots[Int(timer.slot)].target != nil
    }

    /// Frees a slot: the generation moves on first, so the slot's heap entry and every handle
    /// to it are stale from here on.
    private mutating func release(slot: Int) {
        slots[slot].target = nil
        slots[slot].generation &+= 1
        slots[slot].nextFree = firstFreeSlot
        firstFreeSlot = Int32(slot)
        armedTargets -= 1
    }

    /// The deadline of the earliest live timer.
    var earliestDeadline: UInt64? { heap.min?.deadline }

    /// Removes and returns what is due at `now` (callbacks and targets), earliest first.
    mutating func popExpired(now: UInt64) -> [Due] {
        var due: [Due] = []
        while let top = heap.min, top.deadline <= now {
            heap.removeMin()
            if top.id & Self.targetBit == 0 {
                if let cb = callbacks.removeValue(forKey: top.id) { due.append(.callback(cb)) }
            } else {
                let timer = Self.timer(of: top.id)
                if isArmed(timer), let target = slots[Int(timer.slot)].target {
                    release(slot: Int(timer.slot))
                    due.append(.target(target))
                }
            }
        }
        dropCancelledTop()
        return due
    }

    private static func timer(of id: UInt64) -> LoopTimer {
        LoopTimer(slot: UInt32(truncatingIfNeeded: (id & ~targetBit) >> 32), generation: UInt32(truncatingIfNeeded: id))
    }

    private func isLive(_ entry: Entry) -> Bool {
        entry.id & Self.targetBit == 0 ? callbacks[entry.id] != nil : isArmed(Self.timer(of: entry.id))
    }

    private mutating func dropCancelledTop() {
        while let top = heap.min, !isLive(top) { heap.removeMin() }
        // Many cancelled entries deep in the heap: rebuild rather than let it grow. At most a
        // third of the entries are dead: an upgraded connection leaves its HTTP timer's entry
        // behind, and with 2× the heap of 10,000 idle WebSockets was ~50 bytes per socket (S3).
        // Each rebuild follows at least count / 2 cancellations, so it stays O(1) per cancel.
        if heap.count > 64 && heap.count > count + count / 2 {
            heap = Heap(heap.unordered.filter { isLive($0) })
        }
    }
}
