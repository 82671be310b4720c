import Testing
@testable import HeraldClient

/// The task map `herald watch` keeps: snapshots replace, events update once, resume points.
@Suite struct WatchStateTests {
    static func task(_ id: String, _ status: String, seq: Int, done: Double = 0) -> WatchTask {
        WatchTask(id: id, status: status, done: done, seq: seq)
    }

    @Test func snapshotThenEventsUpdateTasksCountsAndSeq() {
        var state = WatchState(topics: ["tasks"])
        #expect(state.resumePoint == nil)
        #expect(state.apply(.snapshot(topic: "tasks", epoch: "E", seq: 10, recovered: true,
                                      counts: ["running": 1, "succeeded": 500], tasks: [Self.task("a", "running", seq: 9)])) == .applied)
        #expect(state.apply(.task(topic: "tasks", seq: 11, event: "created", task: Self.task("b", "queued", seq: 11))) == .applied)
        #expect(state.apply(.task(topic: "tasks", seq: 12, event: "succeeded", task: Self.task("a", "succeeded", seq: 12))) == .applied)
        #expect(state.tasks.keys.sorted() == ["a", "b"])
        #expect(state.tasks["a"]?.status == "succeeded")
        #expect(state.counts == ["queued": 1, "succeeded": 501])
        #expect(state.resumePoint?.since == 12 && state.resumePoint?.epoch == "E")
        #expect(state.apply(.removed(topic: "tasks", seq: 13, id: "a")) == .applied)
        #expect(state.tasks["a"] == nil)
        #expect(state.counts == ["queued": 1, "succeeded": 500])
        #expect(state.lastSeq == 13)
    }

    @Test func eventsAtOrBelowTheTopicSeqAreDuplicates() {
        var state = WatchState(topics: ["tasks"])
        _ = state.apply(.snapshot(topic: "tasks", epoch: "E", seq: 10, recovered: true, counts: [:], tasks: []))
        #expect(state.apply(.task(topic: "tasks", seq: 10, event: "created", task: Self.task("a", "queued", seq: 10))) == .duplicate)
        #expect(state.apply(.task(topic: "tasks", seq: 11, event: "created", task: Self.task("a", "queued", seq: 11))) == .applied)
        #expect(state.apply(.task(topic: "tasks", seq: 11, event: "created", task: Self.task("a", "queued", seq: 11))) == .duplicate)
        #expect(state.apply(.removed(topic: "tasks", seq: 9, id: "a")) == .duplicate)
        #expect(state.tasks["a"] != nil)
    }

    @Test func oneEventOnTwoTopicsCountsOnce() {
        var state = WatchState(topics: ["tasks", "task:a"])
        _ = state.apply(.snapshot(topic: "tasks", epoch: "E", seq: 5, recovered: true, counts: [:], tasks: []))
        #expect(state.resumePoint == nil, "task:a has no snapshot yet")
        _ = state.apply(.snapshot(topic: "task:a", epoch: "E", seq: 5, recovered: true, counts: [:], tasks: []))
        let event = Self.task("a", "queued", seq: 6)
        #expect(state.apply(.task(topic: "tasks", seq: 6, event: "created", task: event)) == .applied)
        #expect(state.apply(.task(topic: "task:a", seq: 6, event: "created", task: event)) == .duplicate)
        #expect(state.tasks.count == 1)
        // A later event only on `tasks`: the resume point is the lowest topic seq.
        _ = state.apply(.task(topic: "tasks", seq: 7, event: "created", task: Self.task("b", "queued", seq: 7)))
        #expect(state.resumePoint?.since == 6)
    }

    @Test func anOlderCopyOfATaskNeverReplacesANewerOne() {
        var state = WatchState(topics: ["tasks", "owner:bob"])
        _ = state.apply(.snapshot(topic: "tasks", epoch: "E", seq: 20, recovered: true, counts: [:], tasks: [Self.task("a", "running", seq: 20, done: 5)]))
        _ = state.apply(.snapshot(topic: "owner:bob", epoch: "E", seq: 19, recovered: true, counts: [:], tasks: [Self.task("a", "running", seq: 18, done: 2)]))
        #expect(state.tasks["a"]?.done == 5)
    }

    @Test func aFreshSnapshotReplacesWhatTheTopicHeld() {
        var state = WatchState(topics: ["tasks"])
        _ = state.apply(.snapshot(topic: "tasks", epoch: "E1", seq: 50, recovered: true, counts: ["running": 2],
                                  tasks: [Self.task("a", "running", seq: 40), Self.task("b", "running", seq: 50)]))
        // After a reconnect the history no longer reaches back: recovered:false, new epoch, lower seq.
        #expect(state.apply(.snapshot(topic: "tasks", epoch: "E2", seq: 3, recovered: false, counts: ["queued": 1],
                                      tasks: [Self.task("c", "queued", seq: 3)])) == .applied)
        #expect(state.tasks.keys.sorted() == ["c"])
        #expect(state.counts == ["queued": 1])
        #expect(state.resumePoint?.since == 3 && state.resumePoint?.epoch == "E2")
        // Events of the new epoch are not mistaken for duplicates of the old one.
        #expect(state.apply(.task(topic: "tasks", seq: 4, event: "started", task: Self.task("c", "running", seq: 4))) == .applied)
    }

    @Test func aSnapshotOfOneTopicKeepsTasksAnotherTopicHolds() {
        var state = WatchState(topics: ["tasks", "task:a"])
        _ = state.apply(.snapshot(topic: "tasks", epoch: "E", seq: 5, recovered: true, counts: [:], tasks: [Self.task("a", "running", seq: 5), Self.task("b", "running", seq: 4)]))
        _ = state.apply(.snapshot(topic: "task:a", epoch: "E", seq: 5, recovered: true, counts: [:], tasks: [Self.task("a", "running", seq: 5)]))
        _ = state.apply(.snapshot(topic: "tasks", epoch: "E", seq: 6, recovered: false, counts: [:], tasks: []))
        #expect(state.tasks.keys.sorted() == ["a"])
    }

    @Test func resumedKeepsTheStateAndMissedEventsFollow() {
        var state = WatchState(topics: ["tasks"])
        _ = state.apply(.snapshot(topic: "tasks", epoch: "E", seq: 8, recovered: true, counts: ["running": 1], tasks: [Self.task("a", "running", seq: 8)]))
        #expect(state.apply(.resumed(topic: "tasks", epoch: "E", since: 8)) == .informational)
        #expect(state.apply(.task(topic: "tasks", seq: 9, event: "progress", task: Self.task("a", "running", seq: 9, done: 3))) == .applied)
        #expect(state.tasks["a"]?.done == 3)
        #expect(state.counts == ["running": 1])
    }

    @Test func duplicateMemoryIsBounded() {
        var state = WatchState(topics: ["tasks", "task:x"])
        _ = state.apply(.snapshot(topic: "tasks", epoch: "E", seq: 0, recovered: true, counts: [:], tasks: []))
        for seq in 1...(WatchState.recentSeqCapacity + 10) {
            #expect(state.apply(.task(topic: "tasks", seq: seq, event: "progress", task: Self.task("t", "running", seq: seq))) == .applied)
        }
        #expect(state.tasks.count == 1)
    }
}
