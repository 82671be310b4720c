/// The last `capacity` events, for resume. Seqs are consecutive (every event gets the next
/// one), so the entry for a seq is found by arithmetic.
struct HistoryRing {
    private var entries: [HistoryEntry?]
    private var start = 0      // index of the oldest entry
    private(set) var count = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        entries = Array(repeating: nil, count: self.capacity)
    }

    var oldestSeq: UInt64? { count == 0 ? nil : entries[start]!.seq }
    var newestSeq: UInt64? { count == 0 ? nil : entries[(start + count - 1) % capacity]!.seq }

    mutating func append(_ entry: HistoryEntry) {
        if let newest = newestSeq { precondition(entry.seq == newest + 1, "history seqs must be consecutive") }
        if count < capacity {
            entries[(start + count) % capacity] = entry
            count += 1
        } else {
            entries[start] = entry
            start = (start + 1) % capacity
        }
    }

    /// The oldest entry, which the next `append` to a full ring overwrites.
    var oldest: HistoryEntry? { count == 0 ? nil : entries[start] }

    /// Takes back the newest entry (undoing an `append` whose turn was not stored).
    mutating func removeNewest() {
        guard count > 0 else { return }
        entries[(start + count - 1) % capacity] = nil
        count -= 1
    }

    /// Puts back an entry older than every held one (one that an undone `append` overwrote).
    mutating func prepend(_ entry: HistoryEntry) {
        if let oldest = oldestSeq { precondition(entry.seq + 1 == oldest, "history seqs must be consecutive") }
        precondition(count < capacity, "prepend to a full ring")
        start = (start + capacity - 1) % capacity
        entries[start] = entry
        count += 1
    }

    /// Every entry, oldest first (for tests).
    var all: [HistoryEntry] { (0..<count).map { entries[(start + $0) % capacity]! } }

    /// Every entry after `seq`, oldest first; nil when the ring no longer reaches back that far.
    /// `current` is the authority's latest seq (events up to it exist).
    func entries(after seq: UInt64, current: UInt64) -> [HistoryEntry]? {
        if seq == current { return [] }
        guard seq < current, let oldest = oldestSeq, seq + 1 >= oldest, newestSeq == current else { return nil }
        var out: [HistoryEntry] = []
        out.reserveCapacity(Int(current - seq))
        var i = Int(seq + 1 - oldest)
        while i < count {
            out.append(entries[(start + i) % capacity]!)
            i += 1
        }
        return out
    }
}
