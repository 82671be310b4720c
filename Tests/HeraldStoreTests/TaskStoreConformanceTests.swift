import Foundation
import Testing
@testable import HeraldStore

/// One suite, every store (the Broker pattern of centrifuge): MemoryTaskStore is the
/// reference, SQLiteTaskStore on disk and in memory must behave the same within a process,
/// and the on-disk one also across a reopen.
@Suite struct TaskStoreConformanceTests {
    @Test(arguments: StoreKind.allCases)
    func newStoreLoadsEmptyWithNoEpochAndUncleanShutdown(_ kind: StoreKind) throws {
        let h = try StoreHarness(kind)
        let state = try h.store.load()
        #expect(state.tasks.isEmpty)
        #expect(state.events.isEmpty)
        #expect(state.seq == 0)
        #expect(state.epoch == nil)
        #expect(state.cleanShutdown == false)
    }

    /// The streaming load (a restart puts each task in place as it is read) gives the same
    /// tasks' JSON, events, seq, epoch and mark as `load()`, and the count before the tasks.
    @Test(arguments: StoreKind.allCases)
    func streamingLoadGivesWhatLoadGives(_ kind: StoreKind) throws {
        let h = try StoreHarness(kind)
        _ = try h.store.load()
        try h.store.commit([
            .upsertTask(task("a", seq: 1)), .appendEvent(event(1, task: "a")),
            .upsertTask(task("b", status: "running", seq: 2)), .appendEvent(event(2, task: "b", owner: nil)),
        ], seq: 2, epoch: "E1", durable: true)
        try h.store.markCleanShutdown()
        try h.reopen()
        var expected: [Int] = []
        var streamed: [[UInt8]] = []
        let state = try h.store.load(expecting: { count in expected.append(count) }, eachJSON: { json in
            #expect(expected.count == 1)
            streamed.append(Array(json))
        })
        #expect(expected == [2])
        #expect(state.tasks.isEmpty)
        #expect(streamed.sorted { $0.lexicographicallyPrecedes($1) } == [task("a", seq: 1).json, task("b", status: "running", seq: 2).json])
        #expect(state.events == [event(1, task: "a"), event(2, task: "b", owner: nil)])
        #expect(state.seq == 2 && state.epoch == "E1" && state.cleanShutdown)
        try h.reopen()
        let again = try h.store.load()
        #expect(again.tasksByID == ["a": task("a", seq: 1), "b": task("b", status: "running", seq: 2)])
    }

    @Test(arguments: StoreKind.allCases)
    func commitThenReloadKeepsUpsertsUpdatesDeletesEventsSeqAndEpoch(_ kind: StoreKind) throws {
        let h = try StoreHarness(kind)
        _ = try h.store.load()
        try h.store.commit([
            .upsertTask(task("a", seq: 1)), .appendEvent(event(1, task: "a")),
            .upsertTask(task("b", seq: 2)), .appendEvent(event(2, task: "b", owner: nil)),
            .upsertTask(task("c", seq: 3)), .appendEvent(event(3, task: "c")),
        ], seq: 3, epoch: "E1", durable: true)
        try h.store.commit([
            .upsertTask(task("a", status: "running", seq: 4, at: 1_700_000_000_500)), .appendEvent(event(4, task: "a")),
            .deleteTask(id: "b"), .appendEvent(event(5, task: "b")),
            .deleteTask(id: "never-existed"),
        ], seq: 5, epoch: "E1", durable: false)
        try h.reopen()
        let state = try h.store.load()
        #expect(state.seq == 5)
        #expect(state.epoch == "E1")
        #expect(state.tasksByID == ["a": task("a", status: "running", seq: 4, at: 1_700_000_000_500), "c": task("c", seq: 3)])
        #expect(state.events == [event(1, task: "a"), event(2, task: "b", owner: nil), event(3, task: "c"), event(4, task: "a"), event(5, task: "b")])
    }

    @Test(arguments: StoreKind.allCases)
    func emptyAndBinaryBytesRoundTripExactly(_ kind: StoreKind) throws {
        let h = try StoreHarness(kind)
        let binary = (0...255).map { UInt8($0) } + [0, 0, 0xFF]
        let t = StoredTask(id: "bin", json: binary, status: "queued", seq: UInt64(Int64.max) + 7, updatedAtMs: -1)
        try h.store.commit([.upsertTask(t), .appendEvent(StoredEvent(seq: 9, taskID: "bin", owner: nil, payload: []))],
                           seq: UInt64.max, epoch: "", durable: false)
        try h.reopen()
        let state = try h.store.load()
        #expect(state.tasks == [t])
        #expect(state.events == [StoredEvent(seq: 9, taskID: "bin", owner: nil, payload: [])])
        #expect(state.seq == UInt64.max)
        #expect(state.epoch == "")
    }

    @Test(arguments: StoreKind.allCases)
    func cleanShutdownIsTrueOnlyAfterMarkAndFalseAgainAfterTheNextLoad(_ kind: StoreKind) throws {
        let h = try StoreHarness(kind)
        #expect(try h.store.load().cleanShutdown == false)
        try h.store.commit([.upsertTask(task("a"))], seq: 1, epoch: "E", durable: true)
        try h.reopen()  // a crash: no markCleanShutdown
        #expect(try h.store.load().cleanShutdown == false)
        try h.store.markCleanShutdown()
        try h.reopen()
        let afterClean = try h.store.load()
        #expect(afterClean.cleanShutdown == true)
        #expect(afterClean.tasks == [task("a")])
        // That load marked the store running again: a crash now must read as unclean.
        try h.reopen()
        #expect(try h.store.load().cleanShutdown == false)
    }

    @Test(arguments: StoreKind.allCases)
    func commitAfterMarkCleanShutdownClearsTheMark(_ kind: StoreKind) throws {
        let h = try StoreHarness(kind)
        _ = try h.store.load()
        try h.store.markCleanShutdown()
        try h.store.commit([.upsertTask(task("late"))], seq: 1, epoch: "E", durable: false)
        try h.reopen()
        #expect(try h.store.load().cleanShutdown == false)
    }

    @Test(arguments: StoreKind.allCases)
    func trimEventsKeepsExactlyTheNewestN(_ kind: StoreKind) throws {
        let h = try StoreHarness(kind)
        _ = try h.store.load()
        try h.store.commit((1...50).map { .appendEvent(event($0)) }, seq: 50, epoch: "E", durable: false)
        try h.store.trimEvents(keep: 100)  // more than there are: nothing goes
        #expect(try h.store.load().events.map(\.seq) == Array(1...50))
        try h.store.trimEvents(keep: 50)  // exactly as many: nothing goes
        #expect(try h.store.load().events.map(\.seq) == Array(1...50))
        try h.store.trimEvents(keep: 49)  // one fewer: the oldest goes
        #expect(try h.store.load().events.map(\.seq) == Array(2...50))
        try h.store.trimEvents(keep: 10)
        try h.reopen()
        let state = try h.store.load()
        #expect(state.events.map(\.seq) == Array(41...50))
        #expect(state.seq == 50)  // trimming history never moves seq
        try h.store.trimEvents(keep: 0)
        #expect(try h.store.load().events.isEmpty)
        try h.store.trimEvents(keep: 5)  // on an empty ring
        #expect(try h.store.load().events.isEmpty)
    }

    @Test(arguments: StoreKind.allCases)
    func trimEventsCountsEventsNotSeqNumbersWhenThereAreGaps(_ kind: StoreKind) throws {
        let h = try StoreHarness(kind)
        try h.store.commit([1, 5, 6, 20, 21, 100].map { .appendEvent(event($0)) }, seq: 100, epoch: "E", durable: false)
        try h.store.trimEvents(keep: 3)
        #expect(try h.store.load().events.map(\.seq) == [20, 21, 100])
    }

    @Test(arguments: StoreKind.allCases)
    func anEventWithAnExistingSeqReplacesIt(_ kind: StoreKind) throws {
        let h = try StoreHarness(kind)
        try h.store.commit([.appendEvent(event(1)), .appendEvent(event(3))], seq: 3, epoch: "E", durable: false)
        try h.store.commit([.appendEvent(event(2, task: "x")), .appendEvent(event(3, task: "y"))], seq: 3, epoch: "E", durable: false)
        #expect(try h.store.load().events == [event(1), event(2, task: "x"), event(3, task: "y")])
    }

    @Test(arguments: StoreKind.allCases)
    func aNewEpochDropsTheOldEpochsHistoryButKeepsTasks(_ kind: StoreKind) throws {
        let h = try StoreHarness(kind)
        try h.store.commit([.upsertTask(task("a")), .appendEvent(event(1)), .appendEvent(event(2))], seq: 2, epoch: "E1", durable: true)
        try h.reopen()
        try h.store.commit([.upsertTask(task("b", seq: 3)), .appendEvent(event(3, task: "b"))], seq: 3, epoch: "E2", durable: true)
        try h.reopen()
        let state = try h.store.load()
        #expect(state.epoch == "E2")
        #expect(state.seq == 3)
        #expect(state.events == [event(3, task: "b")])
        #expect(Set(state.tasksByID.keys) == ["a", "b"])
    }

    @Test(arguments: StoreKind.allCases)
    func concurrentCommitsFromManyThreadsAreAllKept(_ kind: StoreKind) throws {
        let h = try StoreHarness(kind)
        let store = h.store
        let failures = Counter()
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for i in 0..<25 {
                let seq = UInt64(thread * 100 + i + 1)
                do {
                    try store.commit([.upsertTask(task("t\(thread)-\(i)", seq: seq)), .appendEvent(event(seq))],
                                     seq: seq, epoch: "E", durable: i % 5 == 0)
                } catch {
                    failures.add()
                }
            }
        }
        #expect(failures.value == 0)
        let state = try store.load()
        #expect(state.tasks.count == 200)
        #expect(state.events.count == 200)
        #expect(state.events.map(\.seq) == state.events.map(\.seq).sorted())
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.withLock { n += 1 } }
    var value: Int { lock.withLock { n } }
}
