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
