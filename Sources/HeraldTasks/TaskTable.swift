/// The actor's tasks by id, with the dictionary API the hub uses. Records are boxed: a
/// `TaskRecord` is ~350 bytes, and a dictionary stores its values inline in a power-of-two
/// table kept under 75 % full — 100,000 tasks sit in 262,144 slots, so inline records cost
/// ~96 MB where boxes cost 8 bytes a slot plus one exact allocation per task (~40 MB).
/// Reads still hand out copies, so a record taken out, changed and refused by a transition
/// leaves the table as it was.
struct TaskTable {
    final class Box {
        var record: TaskRecord
        init(_ record: TaskRecord) { self.record = record }
    }

    private var boxes: [String: Box] = [:]

    var count: Int { boxes.count }

    subscript(id: String) -> TaskRecord? {
        get { boxes[id]?.record }
        set {
            guard let newValue else {
                boxes.removeValue(forKey: id)
                return
            }
            if let box = boxes[id] { box.record = newValue } else { boxes[id] = Box(newValue) }
        }
    }

    /// The record in place, to read a few fields of many tasks (statistics) without copying
    /// each whole record, which retains every string, array and dictionary in it. Read only.
    func box(_ id: String) -> Box? { boxes[id] }

    @discardableResult
    mutating func removeValue(forKey id: String) -> TaskRecord? {
        boxes.removeValue(forKey: id)?.record
    }

    var values: LazyMapSequence<Dictionary<String, Box>.Values, TaskRecord> {
        boxes.values.lazy.map { $0.record }
    }
}
