import HeraldWire
import Testing

@testable import HeraldTasks

/// Hubs as mirrors of one authority (several hosts on Redis): what `stage` computes, that it
/// leaves the mirror untouched, that mirrors applying the same entries agree with each other
/// and with a hub that did the changes itself, and that a stale mirror's batch is refused by
/// compare-and-set and comes out right when computed again.
@Suite struct TaskHubFollowerTests {
    /// The commit script's semantics in Swift (RedisTaskScripts.commit): compare-and-set on
    /// task seqs and owner versions, one seq, the JSON's seq replaced.
    final class Authority: @unchecked Sendable {
        var seq: UInt64 = 0
        var seqs: [String: UInt64] = [:]
        var owners: [String: UInt64] = [:]
        var log: [CommittedEntry] = []

        enum Outcome: Equatable { case committed([CommittedEntry]), conflict }

        func commit(_ batch: StagedBatch) -> Outcome {
            for (id, expected) in batch.taskSeqs where (seqs[id] ?? 0) != expected { return .conflict }
            for (owner, expected) in batch.ownerVersions where (owners[owner] ?? 0) != expected { return .conflict }
            var entries: [CommittedEntry] = []
            for write in batch.writes {
                switch write.kind {
                case .heartbeat: continue
                case .removed:
                    seq += 1
                    seqs[write.id] = nil
                    entries.append(CommittedEntry(seq: seq, event: "removed", id: write.id, owner: write.owner, json: nil))
                case .task(let event):
                    seq += 1
                    seqs[write.id] = seq
                    entries.append(CommittedEntry(seq: seq, event: event.rawValue, id: write.id, owner: write.owner,
                                                  json: write.jsonBeforeSeq + Array("\(seq)}".utf8)))
                }
                if write.changesOwnerActivity { owners[write.owner ?? ""] = seq }
            }
            log += entries
            return .committed(entries)
        }
    }

    final class Sink: TaskEventSink, @unchecked Sendable {
        var seqs: [UInt64] = []
        func publish(_ events: [PublishedEvent]) { seqs += events.map(\.seq) }
    }

    static func mirror(_ clock: TaskHubTests.Clock, _ configure: (inout TaskHubConfiguration) -> Void = { _ in }) async -> TaskHub {
        var config = TaskHubConfiguration()
        configure(&config)
        let hub = TaskHub(configuration: config, clock: { clock.now })
        _ = await hub.loadMirror(tasks: [], seq: 0, epoch: "E", ownerVersions: [:])
        return hub
    }

    static func create(_ id: String, owner: String? = nil, total: Double? = 100) -> TaskRequest {
        .operation(.create(CreateInput(id: id, title: "t", owner: owner, total: total, leaseSeconds: 30, expireSeconds: 300,
                                       meta: JSONObject())))
    }

    func json(_ reply: TaskReply) -> JSONValue? {
        if case .task(let json, _, _) = reply { return try? JSONParser.parse(json) }
        return nil
    }

    @Test func stagingComputesTheBatchAndLeavesTheMirrorUntouched() async throws {
        let clock = TaskHubTests.Clock()
        let hub = await Self.mirror(clock)
        let sink = Sink()
        await hub.addSink(sink)
        let staged = await hub.stage([Self.create("a"), .operation(.start(id: "a")), .operation(.start(id: "nope"))])
        #expect(staged.writes.map(\.kind) == [.task(.created), .task(.started)])
        #expect(staged.writes.map(\.request) == [0, 1])
        #expect(staged.taskSeqs == ["a": 0, "nope": 0])
        #expect(json(staged.replies[1])?["status"]?.stringValue == "running")
        guard case .failure(let error) = staged.replies[2] else { Issue.record("expected a 404"); return }
        #expect(error.status == 404)
        #expect(staged.writes[0].jsonBeforeSeq.suffix(7) == Array(#","seq":"#.utf8)[...])
        // Nothing happened on the mirror: no task, no seq, no event.
        #expect(await hub.seq == 0)
        guard case .failure = await hub.reply(to: .get(id: "a"), now: clock.now) else { Issue.record("a exists"); return }
        #expect(sink.seqs.isEmpty)
    }

    @Test func mirrorsApplyingTheSameEntriesAgreeWithAHubThatDidTheChanges() async throws {
        let clock = TaskHubTests.Clock()
        let authority = Authority()
        let (a, b) = (await Self.mirror(clock), await Self.mirror(clock))
        let reference = TaskHub(clock: { clock.now })
        let sinkB = Sink()
        await b.addSink(sinkB)
        let steps: [[TaskRequest]] = [
            [Self.create("x", owner: "alice"), .operation(.start(id: "x"))],
            [.operation(.progress(id: "x", ProgressInput(done: 10, message: "ten")))],
            [.operation(.progress(id: "x", ProgressInput(done: 30)))],
            [.operation(.progress(id: "x", ProgressInput(done: 60)))],
            [.operation(.complete(id: "x", message: "done", result: nil))],
        ]
        for (n, requests) in steps.enumerated() {
            clock.now += 1_000
            // Alternate the host that computes the change: the other only applies it.
            let host = n % 2 == 0 ? a : b
            let staged = await host.stage(requests)
            guard case .committed(let entries) = authority.commit(staged) else { Issue.record("conflict at step \(n)"); return }
            try await a.applyCommitted(entries)
            try await b.applyCommitted(entries)
            _ = await reference.handle(requests)
        }
        let fromA = await a.reply(to: .get(id: "x"), now: clock.now)
        let fromB = await b.reply(to: .get(id: "x"), now: clock.now)
        let fromReference = await reference.reply(to: .get(id: "x"), now: clock.now)
        #expect(json(fromA) == json(fromB))
        #expect(json(fromA) == json(fromReference), "rate/ETA and every field as if one hub had done it")
        #expect(json(fromA)?["rate"]?.numberValue == json(fromReference)?["rate"]?.numberValue)
        #expect(sinkB.seqs == Array(1...6))
        // Resume from the mirror's own history.
        guard case .subscription(let messages) = await b.reply(to: .subscribe(topic: .all, since: 4, epoch: "E"), now: clock.now) else {
            Issue.record("no subscription")
            return
        }
        #expect(messages.count == 3)  // resumed + seq 5 and 6
    }

    @Test func aStaleMirrorsBatchIsRefusedAndComesOutRightWhenComputedAgain() async throws {
        let clock = TaskHubTests.Clock()
        let authority = Authority()
        let (a, b) = (await Self.mirror(clock), await Self.mirror(clock))
        guard case .committed(let created) = authority.commit(await a.stage([Self.create("x")])) else { return }
        try await a.applyCommitted(created)
        try await b.applyCommitted(created)
        // Both hosts start x at once; A's commit lands first.
        let fromA = await a.stage([.operation(.start(id: "x"))])
        let fromB = await b.stage([.operation(.start(id: "x"))])
        guard case .committed(let started) = authority.commit(fromA) else { Issue.record("A refused"); return }
        #expect(authority.commit(fromB) == .conflict)
        try await a.applyCommitted(started)
        try await b.applyCommitted(started)
        let again = await b.stage([.operation(.start(id: "x"))])
        guard case .failure(let error) = again.replies[0] else { Issue.record("a second start succeeded"); return }
        #expect(error.status == 409)
        #expect(again.writes.isEmpty && again.taskSeqs == ["x": 2])
        // The refusal itself is checked too: it stands only while x is still at seq 2.
        #expect(authority.commit(again) == .committed([]))
    }

    @Test func aGapOrAnUnreadableEntryIsReportedBeforeAnythingOfItIsApplied() async throws {
        let clock = TaskHubTests.Clock()
        let hub = await Self.mirror(clock)
        await #expect(throws: FollowerError.gap(expected: 1, got: 2)) {
            try await hub.applyCommitted([CommittedEntry(seq: 2, event: "created", id: "a", owner: nil, json: nil)])
        }
        await #expect(throws: FollowerError.self) {
            try await hub.applyCommitted([CommittedEntry(seq: 1, event: "created", id: "a", owner: nil, json: Array("{".utf8))])
        }
        await #expect(throws: FollowerError.self) {
            try await hub.applyCommitted([CommittedEntry(seq: 1, event: "removed", id: "ghost", owner: nil, json: nil)])
        }
        #expect(await hub.seq == 0)
    }

    @Test func deadlinesHeartbeatsAndOwnerLimitsAreStagedWithWhatTheyDependOn() async throws {
        let clock = TaskHubTests.Clock()
        let authority = Authority()
        let hub = await Self.mirror(clock) { $0.ownerMaxActive = 1 }
        let staged = await hub.stage([Self.create("x", owner: "alice"), .operation(.start(id: "x"))])
        #expect(staged.ownerVersions == ["alice": 0])
        #expect(staged.writes[1].deadline == clock.now + 30_000)  // the lease
        guard case .committed(let entries) = authority.commit(staged) else { return }
        try await hub.applyCommitted(entries)
        #expect(authority.owners["alice"] == 1)

        // Alice is at her limit: the refusal depends on her version.
        let refused = await hub.stage([Self.create("y", owner: "alice")])
        guard case .failure(let error) = refused.replies[0] else { Issue.record("admitted past the limit"); return }
        #expect(error.code == "too_many_active")
        #expect(refused.ownerVersions == ["alice": 1])

        // A heartbeat: a write without event.
        clock.now += 10_000
        let beat = await hub.stage([.operation(.heartbeat(id: "x"))])
        #expect(beat.writes.map(\.kind) == [.heartbeat])
        #expect(beat.writes[0].deadline == clock.now + 30_000)

        // The lease runs out: a tick stages `stale`, which must still be due when committed.
        clock.now += 31_000
        let tick = await hub.stage([], tick: true)
        #expect(tick.writes.map(\.kind) == [.task(.stale)])
        #expect(tick.due == ["x"] && tick.taskSeqs == ["x": 2])
    }

    @Test func committedRepliesCarryTheAuthoritysSeqsBatchesToo() async throws {
        let clock = TaskHubTests.Clock()
        let authority = Authority()
        let (a, b) = (await Self.mirror(clock), await Self.mirror(clock))
        // Another host's change first, so the authority's seqs differ from what `a` guesses.
        guard case .committed(let other) = authority.commit(await b.stage([Self.create("o")])) else { return }
        let staged = await a.stage([
            Self.create("x"), .operation(.start(id: "x")),
            .batch(.create([CreateInput(id: "y", title: "t", owner: nil, total: nil, leaseSeconds: 30, expireSeconds: 300, meta: JSONObject()),
                            CreateInput(id: "x", title: "dup", owner: nil, total: nil, leaseSeconds: 30, expireSeconds: 300, meta: JSONObject())])),
        ])
        guard case .committed(let mine) = authority.commit(staged) else { Issue.record("conflict"); return }
        try await a.applyCommitted(other + mine)
        let replies = staged.committedReplies(first: mine[0].seq)
        guard case .task(let startedJSON, let startedSeq, .running) = replies[1] else { Issue.record("\(replies[1])"); return }
        #expect(startedSeq == 3)
        #expect(try JSONParser.parse(startedJSON)["seq"]?.numberValue == 3)
        guard case .task(let now, _, _) = await a.reply(to: .get(id: "x"), now: clock.now) else { return }
        #expect(now == startedJSON, "the answer is the task as committed, byte for byte")
        guard case .batch(let batchJSON) = replies[2], let results = try JSONParser.parse(batchJSON)["results"]?.arrayValue else {
            Issue.record("\(replies[2])")
            return
        }
        #expect(results[0]["task"]?["seq"]?.numberValue == 4)
        #expect(results[1]["status"]?.numberValue == 409)
    }

    @Test func aMirrorLoadedWithTheAuthoritysLastEventsResumesClientsFromBeforeTheLoad() async throws {
        let clock = TaskHubTests.Clock()
        let authority = Authority()
        let a = await Self.mirror(clock)
        for n in 0..<5 {
            guard case .committed(let entries) = authority.commit(await a.stage([Self.create("t\(n)")])) else { return }
            try await a.applyCommitted(entries)
        }
        guard case .task(let json, _, _) = await a.reply(to: .get(id: "t4"), now: clock.now) else { return }
        // A host that starts now loads the tasks at seq 5 and the last 3 events (one too old is cut off).
        let late = TaskHub(clock: { clock.now })
        let history = [authority.log[0]] + authority.log[2...].reversed()   // 1, 5, 4, 3: seq 1 does not join 3…5
        _ = await late.loadMirror(tasks: [json], seq: 5, epoch: "E", ownerVersions: [:], history: history)
        guard case .subscription(let messages) = await late.reply(to: .subscribe(topic: .all, since: 2, epoch: "E"), now: clock.now) else {
            Issue.record("no subscription")
            return
        }
        #expect(messages.count == 4)  // resumed + 3, 4, 5
        guard case .subscription(let old) = await late.reply(to: .subscribe(topic: .all, since: 1, epoch: "E"), now: clock.now),
              let first = old.first, let snapshot = try? JSONParser.parse(first) else { return }
        #expect(snapshot["type"]?.stringValue == "snapshot" && snapshot["recovered"]?.boolValue == false)
    }
}
