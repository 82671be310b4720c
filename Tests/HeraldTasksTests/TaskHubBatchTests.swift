import HeraldStore
import HeraldWire
import Testing
@testable import HeraldTasks

/// `POST /api/batch` in the actor: each item as its single call, one store transaction per
/// batch, consecutive seqs in item order, per-item refusals, the caller's owner scope.
@Suite struct TaskHubBatchTests {
    /// Counts the transactions the actor writes.
    final class CountingStore: TaskStore, @unchecked Sendable {
        let inner = MemoryTaskStore()
        var commits = 0
        func load() throws(StoreError) -> StoredState { try inner.load() }
        func commit(_ changes: [StoreChange], seq: UInt64, epoch: String, durable: Bool) throws(StoreError) {
            commits += 1
            try inner.commit(changes, seq: seq, epoch: epoch, durable: durable)
        }
        func trimEvents(keep: Int) throws(StoreError) { try inner.trimEvents(keep: keep) }
        func markCleanShutdown() throws(StoreError) { try inner.markCleanShutdown() }
    }

    static func inputs(_ n: Int, owner: String? = nil, prefix: String = "t") throws -> [CreateInput] {
        try (0..<n).map { i in
            var input = try TaskValidation.create(Array(#"{"id":"\#(prefix)\#(i)","title":"item \#(i)"}"#.utf8))
            input.owner = owner
            return input
        }
    }

    static func results(_ reply: TaskReply) throws -> [JSONValue] {
        guard case .batch(let json) = reply else { Issue.record("not a batch reply: \(reply)"); return [] }
        return try #require(try JSONParser.parse(json)["results"]?.arrayValue)
    }

    @Test func aThousandCreatesAreOneTransactionWithConsecutiveSeqsInItemOrder() async throws {
        let store = CountingStore()
        let hub = TaskHub(store: store, clock: { 1_800_000_000_000 })
        _ = try await hub.restore()
        let before = store.commits
        let out = await hub.handle([.batch(.create(try Self.inputs(1_000)))])
        #expect(store.commits == before + 1)
        let events = TaskHubTests.events(out)
        #expect(events.map(\.seq) == Array(1...1_000))
        #expect(events.map(\.taskID) == (0..<1_000).map { "t\($0)" })
        let results = try Self.results(TaskHubTests.replies(out)[0])
        #expect(results.count == 1_000)
        #expect(results.allSatisfy { $0["status"]?.intValue == 201 && $0["task"]?["status"]?.stringValue == "queued" })
    }

    @Test func eachItemIsRefusedOnItsOwnAndTheRestApplies() async throws {
        let (hub, _) = TaskHubTests.make { $0.ownerMaxActive = 2 }
        _ = await hub.handle([.batch(.create(try Self.inputs(1, owner: "bob", prefix: "x")))])
        let out = await hub.handle([.batch(.create(try Self.inputs(3, owner: "bob") + (try Self.inputs(1, owner: "bob", prefix: "x"))))])
        let results = try Self.results(TaskHubTests.replies(out)[0])
        #expect(results.map { $0["status"]?.intValue } == [201, 429, 429, 409])
        #expect(results[1]["error"]?["code"]?.stringValue == "too_many_active")
        #expect(results[1]["error"]?["retry_after"]?.intValue ?? 0 >= 1)
        #expect(TaskHubTests.events(out).count == 1)
    }

    @Test func changesByIdsAndByFilter() async throws {
        let (hub, _) = TaskHubTests.make()
        _ = await hub.handle([.batch(.create(try Self.inputs(4, owner: "bob"))), .operation(.start(id: "t0"))])
        let cancel = try Self.results(await hub.handle([.batch(.change(.cancel, .ids(["t0", "t1", "nope"])))]).compactMap {
            if case .reply(_, let r) = $0 { return r } else { return nil } }[0])
        #expect(cancel.map { $0["status"]?.intValue } == [200, 200, 404])
        #expect(cancel.map { $0["task"]?["status"]?.stringValue } == ["cancelling", "cancelled", nil])
        let retried = try Self.results(TaskHubTests.replies(await hub.handle([.batch(.change(.retry, .filter(owner: "bob", statuses: [.cancelled])))]))[0])
        #expect(retried.map { $0["id"]?.stringValue } == ["t1"])
        #expect(retried[0]["task"]?["attempt"]?.intValue == 2)
    }

    @Test func aFilterMatchingMoreThanTheCapIsRefusedWhole() async throws {
        let (hub, _) = TaskHubTests.make()
        _ = await hub.handle([.batch(.create(try Self.inputs(1_000))), .batch(.create(try Self.inputs(1, prefix: "u")))])
        let seq = await hub.seq
        let out = await hub.handle([.batch(.change(.cancel, .filter(owner: nil, statuses: [.queued])))])
        guard case .failure(let error) = TaskHubTests.replies(out)[0] else { Issue.record("applied"); return }
        #expect(error.status == 413 && error.code == "too_many_items")
        #expect(await hub.seq == seq)
    }

    @Test func aScopedBatchSeesOnlyItsOwnersTasks() async throws {
        let (hub, _) = TaskHubTests.make()
        _ = await hub.handle([.batch(.create(try Self.inputs(2, owner: "bob", prefix: "b") + (try Self.inputs(2, owner: "alice", prefix: "a"))))])
        let seq = await hub.seq
        let byIds = try Self.results(TaskHubTests.replies(await hub.handle([.scoped(owner: "alice", .batch(.change(.cancel, .ids(["b0", "a0", "missing"]))))]))[0])
        #expect(byIds.map { $0["status"]?.intValue } == [404, 200, 404])
        #expect(byIds[0]["error"]?["message"]?.stringValue == "no task with id b0")
        let byFilter = try Self.results(TaskHubTests.replies(await hub.handle([.scoped(owner: "alice", .batch(.change(.cancel, .filter(owner: "bob", statuses: [.queued]))))]))[0])
        #expect(byFilter.isEmpty)  // bob's filter matches nothing for alice (not alice's own tasks)
        let ownFilter = try Self.results(TaskHubTests.replies(await hub.handle([.scoped(owner: "alice", .batch(.change(.cancel, .filter(owner: nil, statuses: [.queued]))))]))[0])
        #expect(ownFilter.map { $0["id"]?.stringValue } == ["a1"])  // no owner: alice's own; a0 was cancelled above
        let creates = try Self.results(TaskHubTests.replies(await hub.handle([.scoped(owner: "alice", .batch(.create(try Self.inputs(1, owner: "bob", prefix: "z"))))]))[0])
        #expect(creates[0]["status"]?.intValue == 403)
        var unnamed = try Self.inputs(1, owner: "bob", prefix: "q")
        unnamed[0].id = nil
        let refused = try Self.results(TaskHubTests.replies(await hub.handle([.scoped(owner: "alice", .batch(.create(unnamed)))]))[0])
        #expect(refused[0]["id"] == .null)  // a refused item without an id names none
        #expect(await hub.seq == seq + 2)
    }
}
