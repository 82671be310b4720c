import HeapModule

/// Every deadline the actor watches — leases, `timeout_s`, `stall_s` — in one min-heap
/// (swift-collections' `Heap`), so one pop loop per tick finds whatever is due and nothing
/// scans the tasks. Entries are hints, not truth: renewals and progress never touch the heap,
/// so an entry may come due early (the task's real deadline moved later) or name a task that
/// has finished; `TaskHub.fireDeadlines` re-checks each popped entry against the task and
/// pushes it again when its deadline moved.
struct DeadlineHeap {
    enum Kind: Int64, CaseIterable {
        /// The lease: `stale` at `lease_s`, then `lease_expired` at `expire_s`.
        case lease = 0
        /// `timeout_s` after `started_at`.
        case timeout = 1
        /// `stall_s` after the last progress change (or the start).
        case stall = 2
    }

    struct Entry: Comparable {
        /// The deadline in ms shifted left by `kindBits`, the kind in the low bits: one Int64
        /// keeps an entry at 24 bytes (a separate kind byte would pad it to 32), and ordering by
        /// it is ordering by deadline. Wall-clock ms (~1.8e12) shifted by 2 stay far below Int64.max.
        private let key: Int64
        let id: String

        init(_ deadline: Int64, _ id: String, _ kind: Kind) {
            key = deadline << DeadlineHeap.kindBits | kind.rawValue
            self.id = id
        }

        var deadline: Int64 { key >> DeadlineHeap.kindBits }
        var kind: Kind { Kind(rawValue: key & DeadlineHeap.kindMask)! }

        static func < (a: Entry, b: Entry) -> Bool { a.key < b.key }
        static func == (a: Entry, b: Entry) -> Bool { a.key == b.key && a.id == b.id }
    }

    static let kindBits: Int64 = 2
    static let kindMask: Int64 = (1 << kindBits) - 1

    /// Entries of finished tasks stay until they come due (up to 30 days for a timeout), so
    /// many short tasks with long deadlines would pile them up; `TaskHub` rebuilds the heap
    /// from the live tasks once it holds this many more entries than they can account for.
    /// The slack keeps a small hub from rebuilding on every tick.
    static let compactionSlack = 4_096

    private var heap = Heap<Entry>()

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }
    var earliest: Int64? { heap.min?.deadline }

    mutating func push(_ deadline: Int64, _ id: String, _ kind: Kind) {
        heap.insert(Entry(deadline, id, kind))
    }

    mutating func popDue(now: Int64) -> Entry? {
        guard let top = heap.min, top.deadline <= now else { return nil }
        return heap.removeMin()
    }

    /// Replaces every entry (O(n) heapify), for compaction.
    mutating func replaceAll(with entries: [Entry]) {
        heap = Heap(entries)
    }
}
