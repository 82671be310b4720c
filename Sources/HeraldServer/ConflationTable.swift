import HeraldLoop

/// The newest pending `progress` frame per task of one topic, kept for the topic's subscribers
/// that are far behind: one update per event, however many of them there are. Entries stay in
/// update order (an updated task moves to the end) and each carries the table's version after
/// it, so a subscriber that has taken everything up to version `mark` takes exactly the
/// entries after it, in seq order.
struct ConflationTable {
    struct Entry {
        let key: UInt64
        let seq: UInt64
        let version: UInt64
        /// Nil once a newer frame of the same key superseded it.
        var frame: FanOutFrame?
    }

    /// In version order; superseded entries stay (frame nil) until the next compaction.
    private var entries: [Entry] = []
    private var indexOf: [UInt64: Int] = [:]
    private var superseded = 0
    /// Counts updates, never goes back (not even when emptied): marks stay comparable.
    private(set) var version: UInt64 = 0

    var count: Int { indexOf.count }
    /// Superseded slots outnumber the live ones (and are worth a pass).
    var wantsCompaction: Bool { superseded > 64 && superseded > indexOf.count }

    mutating func update(key: UInt64, seq: UInt64, frame: FanOutFrame) {
        version += 1
        if let index = indexOf[key] {
            entries[index].frame = nil
            superseded += 1
        }
        indexOf[key] = entries.count
        entries.append(Entry(key: key, seq: seq, version: version, frame: frame))
    }

    /// The live entries updated after `mark`, oldest first.
    func entries(after mark: UInt64) -> [Entry] {
        guard mark < version else { return [] }
        // Versions increase along the array: find the first one past the mark.
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].version <= mark { low = mid + 1 } else { high = mid }
        }
        return entries[low...].filter { $0.frame != nil }
    }

    /// Drops superseded entries and those every conflating subscriber already has (version ≤
    /// `taken`, the lowest mark among them).
    mutating func compact(droppingUpTo taken: UInt64) {
        entries.removeAll { $0.frame == nil || $0.version <= taken }
        indexOf.removeAll(keepingCapacity: true)
        for (index, entry) in entries.enumerated() { indexOf[entry.key] = index }
        superseded = 0
    }

    /// No subscriber is conflating any more; the version keeps counting.
    mutating func removeAll() {
        entries.removeAll()
        indexOf.removeAll()
        superseded = 0
    }
}
