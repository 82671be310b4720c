import Foundation
import HeraldStore
import HeraldWire
import Testing
@testable import HeraldTasks

/// A store that cannot write (disk full, I/O error): a failed commit takes nothing effect —
/// memory, subscribers and answers are exactly as before the batch — the hub refuses changes up
/// front while failing, reads and subscriptions go on, deadlines wait, and a probe from `tick`
/// ends it once the store writes again.
@Suite struct TaskHubStoreFaultTests {
    typealias Hub = TaskHubTests
    typealias Deadline = TaskHubDeadlineTests

    /// A `MemoryTaskStore` whose writes fail on command, as SQLite's do on a full disk: the
    /// failed commit leaves the store as it was.
    final class FailingStore: TaskStore, @unchecked Sendable {
        let inner = MemoryTaskStore()
        private let lock = NSLock()
        private var _failing = false
        private var _commitAttempts = 0
        var failing: Bool {
            get { lock.withLock { _failing } }
            set { lock.withLock { _failing = newValue } }
        }
        var commitAttempts: Int { lock.withLock { _commitAttempts } }

        func load() throws -> StoredState { try inner.load() }
        func commit(_ changes: [StoreChange], seq: UInt64, epoch: String, durable: Bool) throws {
            let fail = lock.withLock { _commitAttempts += 1; return _failing }
            if fail { throw StoreError(description: "cannot write --data test: the disk is full") }
            try inner.commit(changes, seq: seq, epoch: epoch, durable: durable)
        }
        var failTrims = false
        var trimAttempts = 0
        func trimEvents(keep: Int) throws {
            trimAttempts += 1
            if failing || failTrims { throw StoreError(description: "cannot write --data test: the disk is full") }
            try inner.trimEvents(keep: keep)
        }
        func markCleanShutdown() throws {
            if failing { throw StoreError(description: "cannot write --data test: the disk is full") }
            try inner.markCleanShutdown()
        }
    }

    /// Every event a sink hears.
    final class Sink: TaskEventSink, @unchecked Sendable {
        var seqs: [UInt64] = []
        func publish(_ events: [PublishedEvent]) { seqs += events.map(\.seq) }
    }

    static func make(_ configure: (inout TaskHubConfiguration) -> Void = { _ in }) async throws
        -> (TaskHub, FailingStore, TaskHubTests.Clock) {
        let store = FailingStore()
        let clock = TaskHubTests.Clock()
        var config = TaskHubConfiguration()
        configure(&config)
        let hub = TaskHub(configuration: config, store: store, clock: { clock.now })
        _ = try await hub.restore()
        return (hub, store, clock)
    }

    static func create(_ json: String) throws -> TaskRequest { try Deadline.create(json) }
    static func progress(_ id: String, _ json: String) throws -> TaskRequest { try Deadline.progress(id, json) }

    static func codes(_ outputs: [HubOutput]) -> [String] {
        Hub.replies(outputs).map { reply in
            if case .failure(let error) = reply { return error.code }
            return "ok"
        }
    }

    /// A hub with tasks in every state: bob's a (running, timeout), b (succeeded), c (queued),
    /// alice's d (running), e without owner (failed). History 4 (full), at most 5 tasks.
    static func populated() async throws -> (TaskHub, FailingStore, TaskHubTests.Clock) {
        let (hub, store, clock) = try await make {
            $0.historySize = 4
            $0.maxTasks = 5
            $0.ownerMaxActive = 10
            $0.snapshotTerminal = 10
        }
        let out = await hub.handle([
            try create(#"{"id":"a","title":"A","owner":"bob","total":10,"timeout_s":60,"lease_s":3600}"#), .operation(.start(id: "a")),
            try create(#"{"id":"b","title":"B","owner":"bob","lease_s":3600}"#), .operation(.start(id: "b")),
            try create(#"{"id":"c","title":"C","owner":"bob","lease_s":3600}"#),
            try create(#"{"id":"d","title":"D","owner":"alice","lease_s":3600}"#), .operation(.start(id: "d")),
            try create(#"{"id":"e","title":"E","lease_s":3600}"#), .operation(.start(id: "e")),
        ])
        #expect(codes(out).allSatisfy { $0 == "ok" })
        clock.now += 1_500
        let more = await hub.handle([
            .operation(.complete(id: "b", message: "done", result: nil)),
            .operation(.fail(id: "e", TaskFailure(code: "boom", message: "x"))),
            try progress("a", #"{"done":3}"#),
        ])
        #expect(codes(more).allSatisfy { $0 == "ok" })
        return (hub, store, clock)
    }

    // MARK: A failed batch

    @Test func aFailedBatchLeavesMemorySubscribersAndAnswersAsBefore() async throws {
        let (hub, store, clock) = try await Self.populated()
        let sink = Sink()
        await hub.addSink(sink)
        let before = await hub.fingerprint()
        #expect(before.seq == 12 && before.historySeqs == [9, 10, 11, 12])  // the ring is full: the batch overwrites it

        store.failing = true
        clock.now += 1_000
        let out = await hub.handle([
            try Self.create(#"{"id":"f","title":"F","owner":"bob"}"#),  // evicts b (max 5 tasks)
            .operation(.heartbeat(id: "a")),
            try Self.progress("a", #"{"done":7}"#),
            .subscribe(topic: .all, since: nil, epoch: nil),
            .operation(.complete(id: "a", message: nil, result: nil)),
            .operation(.delete(id: "e")),
            .operation(.start(id: "c")),
            .operation(.cancel(id: "d")),
            .operation(.retry(id: "e")),  // gone already: 404 in the batch, still refused
            .batch(.create([try TaskValidation.create(Hub.body(#"{"id":"g","title":"G"}"#))])),
            .get(id: "a"),
            .get(id: "f"),
            .list(owner: "bob", statuses: [], limit: nil),
            .subscribe(topic: .owner("bob"), since: 9, epoch: nil),
            .stats,
            .scoped(owner: "bob", .operation(.start(id: "c"))),
        ], from: sink)

        #expect(Self.codes(out) == ["storage_unavailable", "storage_unavailable", "storage_unavailable", "ok",
                                    "storage_unavailable", "storage_unavailable", "storage_unavailable", "storage_unavailable",
                                    "storage_unavailable", "storage_unavailable", "ok", "not_found", "ok", "ok", "ok",
                                    "storage_unavailable"])
        #expect(Hub.events(out).isEmpty)
        #expect(sink.seqs.isEmpty)
        let after = await hub.fingerprint()
        #expect(after == before)
        #expect(await hub.storeFailing)

        // The reads were answered from the state as it is, not the refused one.
        let replies = Hub.replies(out)
        guard case .subscription(let snapshot) = replies[3], case .task(let a, let aSeq, _) = replies[10],
              case .list(let list) = replies[12], case .subscription(let resumed) = replies[13],
              case .stats(let stats) = replies[14] else {
            Issue.record("unexpected replies \(replies)")
            return
        }
        #expect(snapshot == [before.snapshotAll])
        #expect(a == before.encoded["a"] && aSeq == 12)
        #expect(list == before.listBob)
        #expect(resumed.count == 3)  // `resumed`, then bob's events after 9: 10 (b succeeded), 12 (a's progress)
        #expect(stats.seq == before.seq && stats.storeFailing && stats.taskCount == 5)
    }

    @Test func theRefusedChangesAreAbsentAfterARestartAndTheirSeqsAreReused() async throws {
        let (hub, store, clock) = try await Self.populated()
        let before = await hub.fingerprint()
        store.failing = true
        _ = await hub.handle([try Self.create(#"{"id":"f","title":"F"}"#), .operation(.delete(id: "b"))])
        store.failing = false

        let restarted = TaskHub(store: store.inner, clock: { clock.now })
        _ = try await restarted.restore()
        let reloaded = await restarted.fingerprint()
        #expect(reloaded.encoded == before.encoded && reloaded.seq == before.seq)

        // Recovery, then the next change takes the seq the refused one had: it was never published.
        clock.now += 1_000
        await hub.tick()
        #expect(await hub.storeFailing == false)
        let out = await hub.handle([try Self.create(#"{"id":"f","title":"F"}"#)])
        #expect(Hub.events(out).map(\.seq) == [before.seq + 1, before.seq + 2])  // b evicted (max 5 tasks), f created
        let again = TaskHub(store: store.inner, clock: { clock.now })
        _ = try await again.restore()
        #expect(await again.fingerprint().encoded["f"] != nil)
    }

    // MARK: Failing mode

    @Test func whileFailingChangesAreRefusedUpFrontReadsAndHeartbeatsGoOn() async throws {
        let (hub, store, clock) = try await Self.populated()
        store.failing = true
        _ = await hub.handle([try Self.progress("a", #"{"done":4}"#)])
        #expect(await hub.storeFailing)
        let before = await hub.fingerprint()
        let attempts = store.commitAttempts

        clock.now += 100
        let out = await hub.handle([
            try Self.progress("a", #"{"done":5}"#), try Self.create(#"{"id":"x","title":"X"}"#),
            .get(id: "a"), .subscribe(topic: .task("a"), since: nil, epoch: nil), .stats,
        ])
        #expect(Self.codes(out) == ["storage_unavailable", "storage_unavailable", "ok", "ok", "ok"])
        guard case .failure(let refusal) = Hub.replies(out)[0] else { Issue.record("accepted"); return }
        #expect(refusal.status == 503 && refusal.message.contains("disk is full"))
        #expect(store.commitAttempts == attempts)  // refused before anything was tried
        #expect(await hub.fingerprint() == before)

        // A heartbeat only renews the lease in memory (never stored): it goes on.
        clock.now += 2_000
        let beat = await hub.handle([.operation(.heartbeat(id: "a"))])
        #expect(Self.codes(beat) == ["ok"] && Hub.events(beat).isEmpty)
        #expect(try await Deadline.task(hub, "a")["heartbeat_at"] != before.taskJSON("a")["heartbeat_at"])
    }

    @Test func theProbeEndsFailingModeOnceTheStoreWritesAgain() async throws {
        let (hub, store, clock) = try await Self.populated()
        let sink = Sink()
        await hub.addSink(sink)
        store.failing = true
        _ = await hub.handle([try Self.progress("a", #"{"done":4}"#)])
        clock.now += 1_000
        await hub.tick()
        #expect(await hub.storeFailing)  // still failing: the probe failed
        store.failing = false
        clock.now += 500
        await hub.tick()
        #expect(await hub.storeFailing)  // probed at most once a second
        clock.now += 500
        await hub.tick()
        #expect(await hub.storeFailing == false)
        let out = await hub.handle([try Self.progress("a", #"{"done":4}"#)])
        #expect(Self.codes(out) == ["ok"])
        #expect(sink.seqs == [13])
    }

    @Test func deadlinesDoNotFireWhileFailingAndFireOnceAfterRecovery() async throws {
        let (hub, store, clock) = try await Self.populated()
        let sink = Deadline.Sink()
        await hub.addSink(sink)
        let before = await hub.fingerprint()

        // The timeout is due, but its change cannot be stored: the tick is rolled back.
        clock.now += 61_000
        store.failing = true
        await hub.tick()
        let failing = await hub.storeFailing
        #expect(sink.names.isEmpty && failing)
        #expect(await hub.fingerprint() == before)
        // While failing, ticks fire nothing.
        clock.now += 2_000
        await hub.tick()
        #expect(sink.names.isEmpty)
        #expect(try await Deadline.task(hub, "a")["status"]?.stringValue == "running")

        store.failing = false
        clock.now += 1_000
        await hub.tick()  // probe succeeds, then the due timeout fires
        #expect(sink.failures == ["timeout"])
        clock.now += 1_000
        await hub.tick()
        #expect(sink.failures == ["timeout"])
    }

    @Test func aFailedTrimDoesNotUndoTheCommitBeforeIt() async throws {
        let (hub, store, _) = try await Self.make()
        _ = await hub.handle([try Self.create(#"{"id":"t","title":"T","total":2000,"lease_s":3600}"#), .operation(.start(id: "t"))])
        store.failTrims = true
        for done in 1...1_000 {  // the 1,000th commit of this hub trims the history: that trim fails
            let out = await hub.handle([try Self.progress("t", "{\"done\":\(done)}")])
            #expect(Self.codes(out) == ["ok"])
        }
        #expect(store.trimAttempts == 2)  // the 1,000th commit's trim failed and was tried after the next
        let failing = await hub.storeFailing
        let seq = await hub.seq
        #expect(!failing && seq == 1_002)
    }
}

/// Everything a turn may change, comparable (zero status counts are left out: a count that
/// went to 0 and one never set mean the same).
struct HubFingerprint: Equatable {
    var seq: UInt64
    var epoch: String
    var encoded: [String: [UInt8]]
    var records: [String: [UInt8]]
    var statusCounts: [TaskStatus: Int]
    var ownerIndex: [String: Set<String>]
    var activeSeq: [String: UInt64]
    var terminalOrder: [String]
    var terminalOrderStart: Int
    var historySeqs: [UInt64]
    var historyBodies: [[UInt8]]
    var ownerCounts: [String: [TaskStatus: Int]]
    var ownerCountOwners: Int
    var activeIDs: [String: Set<String>]
    var durations: TaskDurationHistograms
    var snapshotAll: [UInt8]
    var snapshotBob: [UInt8]
    var listBob: [UInt8]
    var statistics: [UInt8]

    func taskJSON(_ id: String) -> JSONObject {
        (try? JSONParser.parse(encoded[id] ?? []).objectValue) ?? JSONObject()
    }
}

extension TaskHub {
    func fingerprint() -> HubFingerprint {
        let owners = ["bob", "alice"]
        return HubFingerprint(
            // The JSON each task is served with (kept for an active task, written for a finished one).
            seq: seq, epoch: epoch, encoded: Dictionary(uniqueKeysWithValues: tasks.values.map { ($0.id, self.tasks.json($0.id) ?? []) }),
            records: Dictionary(uniqueKeysWithValues: tasks.values.map { ($0.id, $0.json) }),
            statusCounts: statusCounts.filter { $0.value != 0 }, ownerIndex: Dictionary(uniqueKeysWithValues: owners.map { ($0, ownerIDs($0)) }), activeSeq: activeSeq,
            terminalOrder: terminalOrder.map { "\($0.id):\($0.seq)" }, terminalOrderStart: terminalOrderStart,
            historySeqs: history.all.map(\.seq), historyBodies: history.all.map(\.body),
            ownerCounts: Dictionary(uniqueKeysWithValues: owners.map { ($0, ownerStatusCounts.counts(of: $0)) }),
            ownerCountOwners: ownerStatusCounts.ownerCount,
            activeIDs: Dictionary(uniqueKeysWithValues: (owners + [""]).map { ($0, ownerLimits.activeIDs(of: $0.isEmpty ? nil : $0)) }),
            durations: durationHistograms,
            snapshotAll: snapshot(.all, recovered: true), snapshotBob: snapshot(.owner("bob"), recovered: true),
            listBob: list(owner: "bob", statuses: [], limit: nil),
            statistics: statistics(owner: nil, windowSeconds: 3600, now: 1_800_000_100_000))
    }
}
