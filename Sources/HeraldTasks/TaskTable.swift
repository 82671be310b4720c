/// The actor's tasks by id, with the dictionary API the hub uses. Records are boxed: a
/// `TaskRecord` is 240 bytes, and a dictionary stores its values inline in a power-of-two
/// table kept under 75 % full — 100,000 tasks sit in 262,144 slots, so inline records would
/// cost ~63 MB where boxes cost 8 bytes a slot plus one 272-byte chunk per task (~27 MB).
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

    private var boxes: [String: Box] = [:]

    var count: Int { boxes.count }

    /// Room for `capacity` tasks without rehashing (a restart knows how many it loads).
    mutating func reserveCapacity(_ capacity: Int) { boxes.reserveCapacity(capacity) }

    /// Get: a copy of the record. Set: replaces the record and forgets its cached JSON (a
    /// changed record has other JSON); `set(_:json:)` puts both.
    subscript(id: String) -> TaskRecord? {
        get { boxes[id]?.record }
        set {
            guard let newValue else {
                boxes.removeValue(forKey: id)
                return
            }
            if let box = boxes[id] {
                box.record = newValue
                box.json = nil
            } else {
                boxes[id] = Box(newValue, json: nil)
            }
        }
    }

    /// Puts `record` in place with `json`, its encoding, which is kept only while the task is
    /// active (see the type's comment).
    mutating func set(_ record: TaskRecord, json: [UInt8]) {
        let kept = record.status.isTerminal ? nil : json
        if let box = boxes[record.id] {
            box.record = record
            box.json = kept
        } else {
            boxes[record.id] = Box(record, json: kept)
        }
    }

    /// Puts back a record and the JSON it had (a rolled-back turn); nil removes the task.
    mutating func restore(_ id: String, record: TaskRecord?, json: [UInt8]?) {
        guard let record else {
            boxes.removeValue(forKey: id)
            return
        }
        if let box = boxes[id] {
            box.record = record
            box.json = json
        } else {
            boxes[id] = Box(record, json: json)
        }
    }

    /// The task's JSON: the kept bytes of an active task, written again for a finished one.
    func json(_ id: String) -> [UInt8]? {
        guard let box = boxes[id] else { return nil }
        return box.json ?? box.record.json
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

    /// Every box, to read fields of all tasks without copying records (a restart's indexes).
    var allBoxes: Dictionary<String, Box>.Values { boxes.values }
}
