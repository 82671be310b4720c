/// The actor's tasks by id, with the dictionary API the hub uses. Records are boxed: a
/// `TaskRecord` is 210 bytes, and the table is a power-of-two array kept under 75 % full —
/// 100,000 tasks sit in 262,144 slots, so inline records would cost ~55 MB where boxes cost
/// 8 bytes a slot plus one 256-byte chunk per task (~27 MB).
/// Reads still hand out copies, so a record taken out, changed and refused by a transition
/// leaves the table as it was.
///
/// The box also holds the task's JSON as of its last change, but only while the task is not
/// finished: an active task is read and published at every report, so its JSON is written
/// once per change and reused; a finished one (90 % of the tasks a service holds) changes no
/// more and is read rarely (a GET, a list, the newest few in a snapshot), so its ~600 bytes of
/// JSON are written again from the record when asked (`json(_:)`): the same bytes, as
/// `TaskRecord.json` is a function of the record (measured in docs/benchmarks.md, issue 18).
struct TaskTable {
    final class Box {
        var record: TaskRecord
        /// `record.json`, kept while the task is active; nil once it is finished.
        var json: [UInt8]?
        init(_ record: TaskRecord, json: [UInt8]?) {
            self.record = record
            self.json = json
        }
    }

    /// The boxes themselves, found by their record's id: open addressing with linear probing
    /// over a power-of-two array of box references (8 bytes a slot; a `[String: Box]` slot is
    /// 24: the 16-byte key beside the reference). The key is not stored: a probe compares the
    /// box's own `record.id`, which `set`/`restore` never change for a box in place (a record
    /// put under `id` has that id). Removal shifts the rest of the cluster back (no tombstones),
    /// so a lookup stops at the first empty slot. Kept at most ¾ full, like a Dictionary.
    private var slots: [Box?] = []
    private(set) var count = 0

    /// Room for `capacity` tasks without growing (a restart knows how many it loads).
    mutating func reserveCapacity(_ capacity: Int) {
        let needed = Self.slotCount(for: capacity)
        if needed > slots.count { rehash(to: needed) }
    }

    /// The smallest power of two (≥ 8) that holds `count` boxes at most ¾ full.
    static func slotCount(for count: Int) -> Int {
        var n = 8
        while n * 3 < count * 4 { n <<= 1 }
        return n
    }

    /// The number of slots (for tests).
    var slotCount: Int { slots.count }

    private func home(_ id: String, mask: Int) -> Int { id.hashValue & mask }

    /// The slot holding `id`'s box, or nil.
    private func index(of id: String) -> Int? {
        guard count > 0 else { return nil }
        let mask = slots.count - 1
        var i = home(id, mask: mask)
        while let box = slots[i] {
            if box.record.id == id { return i }
            i = (i + 1) & mask
        }
        return nil
    }

    private func find(_ id: String) -> Box? {
        guard let i = index(of: id) else { return nil }
        return slots[i]
    }

    /// Puts `record` (kept under its own id) and `json` in its box, or in a new box. One probe
    /// (one hash of the id) does both: without tombstones, the first empty slot on the id's
    /// path is where a new box goes (100,000 inserts at a restart).
    private mutating func put(_ record: TaskRecord, json: [UInt8]?) {
        var empty = 0
        if !slots.isEmpty {
            let mask = slots.count - 1
            empty = home(record.id, mask: mask)
            while let box = slots[empty] {
                if box.record.id == record.id {
                    box.record = record
                    box.json = json
                    return
                }
                empty = (empty + 1) & mask
            }
        }
        let box = Box(record, json: json)
        if (count + 1) * 4 > slots.count * 3 {
            rehash(to: Self.slotCount(for: count + 1))
            place(box)
        } else {
            slots[empty] = box
        }
        count += 1
    }

    /// Stores `box` in the first empty slot from its home (there is one: the table is at most ¾ full).
    private mutating func place(_ box: Box) {
        let mask = slots.count - 1
        var i = home(box.record.id, mask: mask)
        while slots[i] != nil { i = (i + 1) & mask }
        slots[i] = box
    }

    private mutating func rehash(to slotCount: Int) {
        let old = slots
        slots = Array(repeating: nil, count: slotCount)
        for case let box? in old { place(box) }
    }

    /// Removes `id`'s box and moves later boxes of its cluster back into the hole, so that
    /// every box stays reachable from its home slot without crossing an empty one.
    @discardableResult
    private mutating func remove(_ id: String) -> Box? {
        guard var hole = index(of: id) else { return nil }
        let removed = slots[hole]
        slots[hole] = nil
        count -= 1
        let mask = slots.count - 1
        var i = (hole + 1) & mask
        while let box = slots[i] {
            let want = home(box.record.id, mask: mask)
            // The box may move to the hole when its home is not in (hole, i] cyclically:
            // then the hole lies on its probe path and leaving it empty would hide the box.
            let stays = hole <= i ? (want > hole && want <= i) : (want > hole || want <= i)
            if !stays {
                slots[hole] = box
                slots[i] = nil
                hole = i
            }
            i = (i + 1) & mask
        }
        return removed
    }

    /// Get: a copy of the record. Set: replaces the record and forgets its cached JSON (a
    /// changed record has other JSON); `set(_:json:)` puts both.
    subscript(id: String) -> TaskRecord? {
        get { find(id)?.record }
        set {
            guard let newValue else {
                remove(id)
                return
            }
            precondition(newValue.id == id, "a task is kept under its own id")
            put(newValue, json: nil)
        }
    }

    /// Puts `record` in place with `json`, its encoding, which is kept only while the task is
    /// active (see the type's comment).
    mutating func set(_ record: TaskRecord, json: [UInt8]) {
        put(record, json: record.status.isTerminal ? nil : json)
    }

    /// Puts back a record and the JSON it had (a rolled-back turn); nil removes the task.
    mutating func restore(_ id: String, record: TaskRecord?, json: [UInt8]?) {
        guard let record else {
            remove(id)
            return
        }
        precondition(record.id == id, "a task is kept under its own id")
        put(record, json: json)
    }

    /// The task's JSON: the kept bytes of an active task, written again for a finished one.
    func json(_ id: String) -> [UInt8]? {
        guard let box = find(id) else { return nil }
        return box.json ?? box.record.json
    }

    /// The record in place, to read a few fields of many tasks (statistics) without copying
    /// each whole record, which retains every string, array and dictionary in it. Read only.
    func box(_ id: String) -> Box? { find(id) }

    @discardableResult
    mutating func removeValue(forKey id: String) -> TaskRecord? {
        remove(id)?.record
    }

    /// Every record, in no particular order (callers sort; a Dictionary's order was random too).
    var values: some Sequence<TaskRecord> { allBoxes.map { $0.record } }

    /// Every box, in no particular order, to read fields of all tasks without copying records
    /// (a restart's indexes).
    var allBoxes: LazyMapSequence<LazyFilterSequence<LazyMapSequence<[Box?], Box?>>, Box> {
        slots.lazy.compactMap { $0 }
    }
}
