import HeraldWire
import Testing
@testable import HeraldTasks

/// `TaskTable`'s open-addressing table of boxes (issue 18): every operation checked against a
/// Dictionary, in tables small enough that clusters, wrap-around and backward shifts happen.
@Suite struct TaskTableTests {
    static func record(_ id: String, seq: UInt64 = 0) -> TaskRecord {
        var r = TaskRecord(id: id, title: "title \(id)", owner: nil, total: nil, leaseSeconds: 30, expireSeconds: 300,
                           meta: JSONObject(), now: 1_800_000_000_000)
        r.seq = seq
        return r
    }

    /// Every id of `model` is found with its seq, nothing else is, and iteration yields each once.
    static func check(_ table: TaskTable, _ model: [String: UInt64], absent: [String] = []) {
        #expect(table.count == model.count)
        for (id, seq) in model {
            #expect(table[id]?.seq == seq, "\(id)")
            #expect(table.box(id)?.record.id == id)
        }
        for id in absent where model[id] == nil { #expect(table[id] == nil, "\(id)") }
        let iterated = table.values.map(\.id)
        #expect(iterated.count == model.count)
        #expect(Set(iterated) == Set(model.keys))
        #expect(table.allBoxes.map(\.record.id).sorted() == iterated.sorted())
        #expect(model.count * 4 <= table.slotCount * 3 || model.isEmpty)
    }

    @Test func insertLookupReplaceRemove() {
        var table = TaskTable()
        #expect(table.count == 0 && table["a"] == nil && table.json("a") == nil)
        table["a"] = Self.record("a", seq: 1)
        table.set(Self.record("b", seq: 2), json: Array("{b}".utf8))
        #expect(table["a"]?.seq == 1 && table.json("b") == Array("{b}".utf8))
        table["b"] = Self.record("b", seq: 3)  // replacing forgets the kept JSON
        #expect(table["b"]?.seq == 3 && table.box("b")?.json == nil && table.count == 2)
        #expect(table.removeValue(forKey: "a")?.seq == 1)
        #expect(table.removeValue(forKey: "a") == nil)
        table.restore("c", record: Self.record("c", seq: 4), json: Array("{c}".utf8))
        #expect(table.box("c")?.json == Array("{c}".utf8))
        table.restore("c", record: nil, json: nil)
        Self.check(table, ["b": 3], absent: ["a", "c"])
    }

    @Test func growsAndReserves() {
        var table = TaskTable()
        var model: [String: UInt64] = [:]
        for i in 0..<5_000 {
            table["t\(i)"] = Self.record("t\(i)", seq: UInt64(i))
            model["t\(i)"] = UInt64(i)
        }
        Self.check(table, model, absent: ["t5000", "x"])
        #expect(table.slotCount == 8_192)
        var reserved = TaskTable()
        reserved.reserveCapacity(100_000)
        #expect(reserved.slotCount == 262_144)  // 100,000 is over ¾ of 131,072
        #expect(TaskTable.slotCount(for: 6) == 8 && TaskTable.slotCount(for: 7) == 16 && TaskTable.slotCount(for: 0) == 8)
    }

    /// Random inserts and removals in small tables (8–64 slots, ¾ full): long clusters,
    /// clusters wrapping past the last slot, removals in their middle (the backward shift, the
    /// table's replacement for tombstones) — every state compared with a Dictionary.
    @Test func collisionsAndRemovalsAgainstADictionary() {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<200 {
            var table = TaskTable()
            var model: [String: UInt64] = [:]
            let ids = (0..<(round % 40 + 4)).map { "k\($0)" }
            for step in 0..<400 {
                let id = ids.randomElement(using: &rng)!
                if Bool.random(using: &rng) || model.count > ids.count * 3 / 4 {
                    #expect(table.removeValue(forKey: id)?.seq == model.removeValue(forKey: id))
                } else {
                    table[id] = Self.record(id, seq: UInt64(step))
                    model[id] = UInt64(step)
                }
                if step % 37 == 0 { Self.check(table, model, absent: ids) }
            }
            Self.check(table, model, absent: ids)
            for id in ids { table[id] = nil }
            Self.check(table, [:], absent: ids)
        }
    }

    /// A removal leaves no marker behind: filling and emptying a table many times keeps every
    /// lookup of a missing id ending at an empty slot, and the table does not grow.
    @Test func noTombstonesAfterChurn() {
        var table = TaskTable()
        table.reserveCapacity(12)
        let slots = table.slotCount
        for round in 0..<1_000 {
            for i in 0..<12 { table["r\(round)-\(i)"] = Self.record("r\(round)-\(i)") }
            for i in 0..<12 { table["r\(round)-\(i)"] = nil }
        }
        #expect(table.count == 0 && table.slotCount == slots && table["r0-0"] == nil)
        #expect(Array(table.values).isEmpty)
    }
}
