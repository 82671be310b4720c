import HeraldStore
import Testing
@testable import HeraldTasks

/// The statistics' counts and finishes across a restart: what the hub kept change by change
/// comes back from the store (per owner, overall, the finish order), and the owner index is
/// built at its first read after a load.
@Suite struct TaskHubStatisticsRestartTests {
    typealias Stats = TaskHubStatisticsTests
    typealias Hub = TaskHubStatisticsTests.Hub

    @Test func ownerCountsFollowEveryChangeAndComeBackFromTheStore() async throws {
        let store = MemoryTaskStore()
        let clock = Hub.Clock()
        let first = TaskHub(store: store, clock: { clock.now })
        _ = try await first.restore()
        try await Stats.run(first, clock, "a", start: Stats.base, ms: 1_000)
        try await Stats.run(first, clock, "b", .failed, start: Stats.base + 2_000, ms: 1_000)
        await Stats.accepted(first, [.operation(.retry(id: "b")), try Stats.create("c", owner: "alice"), .operation(.start(id: "c")),
                                    .operation(.cancel(id: "c")), try Stats.create("d", owner: "alice"), .operation(.delete(id: "a"))])
        let expected = #"{"queued":2,"running":0,"succeeded":0,"failed":0,"cancelling":1,"cancelled":0}"#
        #expect(Stats.text(try await Stats.stats(first, owner: "alice")["counts"]) == expected)
        try await first.shutdown()
        let second = TaskHub(store: store, clock: { clock.now })
        _ = try await second.restore()
        #expect(Stats.text(try await Stats.stats(second, owner: "alice")["counts"]) == expected)
        await Stats.accepted(second, [.operation(.cancel(id: "b")), .operation(.cancel(id: "d")), .operation(.delete(id: "b")),
                                     .operation(.delete(id: "d")), .operation(.confirmCancelled(id: "c")), .operation(.delete(id: "c"))])
        #expect(Stats.text(try await Stats.stats(second, owner: "alice")["counts"]) == #"{"queued":0,"running":0,"succeeded":0,"failed":0,"cancelling":0,"cancelled":0}"#)
        #expect(await second.ownerStatusCounts.ownerCount == 0)  // an owner whose last task went is dropped
    }

    /// A load tallies the counts by status (overall and per owner) in its own arrays and hands
    /// them over at the end: the same counts as the hub kept change by change.
    @Test func aRestartComesBackWithTheCountsTheHubKept() async throws {
        let store = MemoryTaskStore()
        let clock = Hub.Clock()
        let first = TaskHub(store: store, clock: { clock.now })
        _ = try await first.restore()
        try await Stats.run(first, clock, "a", owner: "alice", start: Stats.base, ms: 1_000)
        try await Stats.run(first, clock, "b", owner: "bob", .failed, start: Stats.base, ms: 1_000)
        try await Stats.run(first, clock, "n", owner: nil, start: Stats.base, ms: 1_000)
        await Stats.accepted(first, [try Stats.create("c", owner: "alice"), .operation(.start(id: "c")), .operation(.cancel(id: "c")),
                                    try Stats.create("d", owner: "bob"), .operation(.cancel(id: "d")), try Stats.create("e", owner: nil),
                                    .operation(.start(id: "e")), try Stats.create("f", owner: "carol")])
        let counts = await first.statusCounts.filter { $0.value != 0 }
        let owners = ["alice", "bob", "carol", "dave"]
        var perOwner: [[TaskStatus: Int]] = []
        for owner in owners { perOwner.append(await first.ownerStatusCounts.counts(of: owner)) }
        #expect(counts == [.succeeded: 2, .failed: 1, .cancelling: 1, .cancelled: 1, .running: 1, .queued: 1])
        try await first.shutdown()
        let second = TaskHub(store: store, clock: { clock.now })
        _ = try await second.restore()
        #expect(await second.statusCounts == counts)
        for (owner, expected) in zip(owners, perOwner) { #expect(await second.ownerStatusCounts.counts(of: owner) == expected, "\(owner)") }
        #expect(await second.ownerStatusCounts.ownerCount == 3)
    }

    /// A restart does not build the owner index while it loads; changes before the first read
    /// are not lost: the first read builds it from the tasks held then.
    @Test func theOwnerIndexIsBuiltAtItsFirstReadAfterARestartWithTheChangesSince() async throws {
        let store = MemoryTaskStore()
        let clock = Hub.Clock()
        let first = TaskHub(store: store, clock: { clock.now })
        _ = try await first.restore()
        for (id, owner) in [("a", "alice"), ("b", "alice"), ("c", "bob"), ("d", nil)] {
            try await Stats.run(first, clock, id, owner: owner, start: Stats.base, ms: 1_000)
        }
        #expect(await first.ownerIDs("alice") == ["a", "b"])
        try await first.shutdown()
        let second = TaskHub(store: store, clock: { clock.now })
        _ = try await second.restore()
        #expect(await second.ownerIndex.isBuilt == false)
        await Stats.accepted(second, [.operation(.delete(id: "a")), try Stats.create("e", owner: "alice"), .operation(.delete(id: "c"))])
        #expect(await second.ownerIDs("alice") == ["b", "e"])
        #expect(await second.ownerIndex.isBuilt)
        #expect(await second.ownerIDs("bob").isEmpty)
        await Stats.accepted(second, [try Stats.create("f", owner: "bob"), .operation(.delete(id: "b"))])
        #expect(await second.ownerIDs("alice") == ["e"])
        #expect(await second.ownerIDs("bob") == ["f"])
    }

    @Test func restoredFinishedTasksAreInTheWindowInTheirFinishOrder() async throws {
        let store = MemoryTaskStore()
        let clock = Hub.Clock()
        let first = TaskHub(store: store, clock: { clock.now })
        _ = try await first.restore()
        try await Stats.run(first, clock, "old", .failed, start: Stats.base, ms: 1_000)
        try await Stats.run(first, clock, "new", start: Stats.base + 100_000, ms: 3_000)
        try await first.shutdown()
        let second = TaskHub(store: store, clock: { clock.now })
        _ = try await second.restore()
        clock.now = Stats.base + 103_000 + 60_000
        let s = try await Stats.stats(second, window: 60)
        #expect(s["finished"]?.intValue == 1 && Stats.text(s["duration_s"]) == #"{"p50":3,"p90":3,"p99":3,"max":3}"#)
    }
}
