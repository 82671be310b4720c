import HeraldWire
import Testing
@testable import HeraldTasks

/// `terminalOrder` keeps an entry each time a task becomes terminal; a task retried and
/// finished again leaves its older entry behind. Retention and `--max-tasks` must skip that
/// stale entry, not take the task's newer finish for it.
@Suite struct TaskHubTerminalOrderTests {
    typealias Stats = TaskHubStatisticsTests

    /// `again` finishes, then `other`; `again` is retried and finishes once more 50 s later.
    static func refinished(_ configure: (inout TaskHubConfiguration) -> Void) async throws -> (TaskHub, TaskHubTests.Clock) {
        let (hub, clock) = TaskHubTests.make(configure)
        clock.now = Stats.base
        await Stats.accepted(hub, [try Stats.create("again", owner: nil), .operation(.cancel(id: "again")),
                                   try Stats.create("other", owner: nil), .operation(.cancel(id: "other"))])
        clock.now = Stats.base + 50_000
        await Stats.accepted(hub, [.operation(.retry(id: "again")), .operation(.cancel(id: "again"))])
        return (hub, clock)
    }

    static func held(_ hub: TaskHub, _ id: String) async -> Bool {
        if case .task = TaskHubTests.replies(await hub.handle([.get(id: id)]))[0] { return true }
        return false
    }

    @Test func retentionGoesPastATaskThatFinishedAgain() async throws {
        let (hub, clock) = try await Self.refinished { $0.retentionSeconds = 60 }
        clock.now = Stats.base + 61_000  // "other" finished 61 s ago, "again" 11 s ago
        await hub.tick()
        #expect(await !Self.held(hub, "other"))
        #expect(await Self.held(hub, "again"))
    }

    /// A load puts finished tasks in the order they finished, whatever order the rows come in
    /// (rows already in that order are taken as they are, others sorted; ties by seq).
    @Test func aLoadOrdersFinishedTasksByFinishWhateverTheRowOrder() async throws {
        var rows: [(id: String, json: [UInt8])] = []
        for (i, (finish, seq)) in [(5_000, 9), (1_000, 4), (3_000, 2), (3_000, 7), (9_000, 1)].enumerated() {
            var task = TaskRecord(id: "f\(i)", title: "t", owner: nil, total: nil, leaseSeconds: 30, expireSeconds: 300,
                                  meta: JSONObject(), now: Stats.base)
            _ = try task.cancel(now: Stats.base + Int64(finish))
            task.seq = UInt64(seq)
            rows.append((task.id, task.json))
        }
        let finishOrder = ["f1", "f2", "f3", "f0", "f4"]
        let byFinish = finishOrder.map { id in rows.first { $0.id == id }!.json }
        for order in [byFinish, rows.map(\.json), byFinish.reversed(), Array(byFinish[1...]) + [byFinish[0]]] {
            let (hub, _) = TaskHubTests.make { _ in }
            #expect(await hub.load(tasks: order) == 0)
            #expect(await hub.terminalOrder.map(\.id) == finishOrder)
        }
    }

    @Test func theTaskCapEvictsTheOldestFinishNotATaskThatFinishedAgain() async throws {
        let (hub, _) = try await Self.refinished { $0.maxTasks = 2 }
        await Stats.accepted(hub, [try Stats.create("new", owner: nil)])
        #expect(await !Self.held(hub, "other"))
        #expect(await Self.held(hub, "again"))
    }
}
