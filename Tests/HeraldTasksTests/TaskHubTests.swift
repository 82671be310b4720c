import HeraldWire
import Testing
@testable import HeraldTasks

/// The actor: seq assignment, events once per topic, snapshot, resume, leases, retention.
@Suite struct TaskHubTests {
    final class Clock: @unchecked Sendable {
        var now: Int64 = 1_800_000_000_000
    }

    static func make(_ configure: (inout TaskHubConfiguration) -> Void = { _ in }) -> (TaskHub, Clock) {
        let clock = Clock()
        var config = TaskHubConfiguration()
        configure(&config)
        return (TaskHub(configuration: config, clock: { clock.now }), clock)
    }

    static func body(_ s: String) -> [UInt8] { Array(s.utf8) }

    static func events(_ outputs: [HubOutput]) -> [PublishedEvent] {
        outputs.compactMap { if case .event(let e) = $0 { return e } else { return nil } }
    }

    static func replies(_ outputs: [HubOutput]) -> [TaskReply] {
        outputs.compactMap { if case .reply(_, let r) = $0 { return r } else { return nil } }
    }

    /// The task JSON of the first reply (a get or an operation's answer).
    static func taskJSON(_ outputs: [HubOutput]) throws -> [UInt8] {
        guard case .task(let json, _, _) = try #require(replies(outputs).first) else {
            Issue.record("not a task reply"); return []
        }
        return json
    }

    static func json(_ bytes: [UInt8]) throws -> JSONObject {
        try #require(try JSONParser.parse(bytes).objectValue)
    }

    @Test func eachChangeGetsTheNextSeqAndOneMessagePerTopic() async throws {
        let (hub, _) = Self.make()
        let create = try TaskValidation.create(Self.body(#"{"id":"a","title":"A","owner":"bob"}"#))
        let out = await hub.handle([.operation(.create(create)), .operation(.start(id: "a"))])
        let events = Self.events(out)
        #expect(events.map(\.seq) == [1, 2])
        #expect(events[0].messages.map(\.topic) == ["tasks", "task:a", "owner:bob"])
        let first = try Self.json(events[0].messages[1].json)
        #expect(first["type"]?.stringValue == "task" && first["topic"]?.stringValue == "task:a")
        #expect(first["event"]?.stringValue == "created" && first["seq"]?.numberValue == 1)
        guard case .task(_, let seq, let status) = Self.replies(out)[1] else { Issue.record("no task reply"); return }
        #expect(seq == 2 && status == .running)
    }

    @Test func repliesSitBetweenTheEventsTheyFollow() async throws {
        let (hub, _) = Self.make()
        let create = try TaskValidation.create(Self.body(#"{"id":"a","title":"A"}"#))
        let out = await hub.handle([.operation(.create(create)), .subscribe(topic: .all, since: nil, epoch: nil), .operation(.start(id: "a"))])
        let kinds = out.map { output -> String in
            switch output {
            case .event(let e): return "e\(e.seq)"
            case .reply(let i, _): return "r\(i)"
            }
        }
        #expect(kinds == ["e1", "r0", "r1", "e2", "r2"])
    }

    @Test func refusedOperationsChangeNothingAndPublishNothing() async throws {
        let (hub, _) = Self.make()
        let create = try TaskValidation.create(Self.body(#"{"id":"a","title":"A"}"#))
        _ = await hub.handle([.operation(.create(create))])
        let out = await hub.handle([.operation(.complete(id: "a", message: nil, result: nil)), .operation(.create(create)),
                                    .operation(.start(id: "nope"))])
        #expect(Self.events(out).isEmpty)
        let codes = Self.replies(out).compactMap { if case .failure(let e) = $0 { return e.code } else { return nil } }
        #expect(codes == ["invalid_transition", "already_exists", "not_found"])
        #expect(await hub.seq == 1)
    }

    @Test func snapshotHasCountsEveryActiveTaskAndTheNewestTerminalOnes() async throws {
        let (hub, _) = Self.make { $0.snapshotTerminal = 2 }
        var requests: [TaskRequest] = []
        for i in 0..<5 {
            requests.append(.operation(.create(try TaskValidation.create(Self.body("{\"id\":\"t\(i)\",\"title\":\"T\"}")))))
            requests.append(.operation(.cancel(id: "t\(i)")))
        }
        requests.append(.operation(.create(try TaskValidation.create(Self.body(#"{"id":"live","title":"L"}"#)))))
        _ = await hub.handle(requests)
        let out = await hub.handle([.subscribe(topic: .all, since: nil, epoch: nil)])
        guard case .subscription(let messages) = Self.replies(out)[0] else { Issue.record("no subscription"); return }
        let snapshot = try Self.json(messages[0])
        #expect(snapshot["type"]?.stringValue == "snapshot" && snapshot["recovered"]?.boolValue == true)
        #expect(snapshot["counts"]?["cancelled"]?.numberValue == 5 && snapshot["counts"]?["queued"]?.numberValue == 1)
        let ids = snapshot["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
        #expect(ids == ["t3", "t4", "live"])
    }

    /// The newest finished tasks come from the order they finished in: a retried task is
    /// active again (listed once), a deleted one is gone, one finished twice counts once.
    @Test func snapshotTerminalSkipsRetriedDeletedAndRefinishedTasks() async throws {
        let (hub, _) = Self.make { $0.snapshotTerminal = 2 }
        var requests: [TaskRequest] = []
        for i in 0..<5 {
            requests.append(.operation(.create(try TaskValidation.create(Self.body("{\"id\":\"t\(i)\",\"title\":\"T\"}")))))
            requests.append(.operation(.cancel(id: "t\(i)")))
        }
        // t4 retried (queued again), t3 deleted, t0 retried and cancelled again (newest now).
        requests += [.operation(.retry(id: "t4")), .operation(.delete(id: "t3")),
                     .operation(.retry(id: "t0")), .operation(.cancel(id: "t0"))]
        _ = await hub.handle(requests)
        let out = await hub.handle([.subscribe(topic: .all, since: nil, epoch: nil)])
        guard case .subscription(let messages) = Self.replies(out)[0] else { Issue.record("no subscription"); return }
        let snapshot = try Self.json(messages[0])
        let ids = snapshot["tasks"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
        #expect(ids == ["t2", "t4", "t0"])  // seq order: t2 cancelled, t4 retried, t0 re-cancelled
        #expect(snapshot["counts"]?["cancelled"]?.numberValue == 3 && snapshot["counts"]?["queued"]?.numberValue == 1)
    }

    @Test func resumeGivesExactlyTheMissedEventsOfTheTopicInOrder() async throws {
        let (hub, _) = Self.make()
        let a = try TaskValidation.create(Self.body(#"{"id":"a","title":"A"}"#))
        let b = try TaskValidation.create(Self.body(#"{"id":"b","title":"B"}"#))
        _ = await hub.handle([.operation(.create(a)), .operation(.create(b))])
        let epoch = await hub.epoch
        _ = await hub.handle([.operation(.start(id: "a")), .operation(.start(id: "b")), .operation(.cancel(id: "a"))])
        let out = await hub.handle([.subscribe(topic: .task("a"), since: 2, epoch: epoch)])
        guard case .subscription(let messages) = Self.replies(out)[0] else { Issue.record("no subscription"); return }
        let parsed = try messages.map(Self.json)
        #expect(parsed[0]["type"]?.stringValue == "resumed" && parsed[0]["since"]?.numberValue == 2)
        #expect(parsed.dropFirst().map { $0["seq"]?.numberValue } == [3, 5])
        #expect(parsed.dropFirst().map { $0["event"]?.stringValue } == ["started", "cancelling"])
    }

    @Test func resumeFallsBackToAnUnrecoveredSnapshot() async throws {
        let (hub, _) = Self.make { $0.historySize = 3 }
        var requests: [TaskRequest] = []
        for i in 0..<5 { requests.append(.operation(.create(try TaskValidation.create(Self.body("{\"id\":\"t\(i)\",\"title\":\"T\"}"))))) }
        _ = await hub.handle(requests)
        let epoch = await hub.epoch
        for (since, clientEpoch) in [(UInt64(1), epoch), (UInt64(4), "another-epoch"), (UInt64(99), epoch)] {
            let out = await hub.handle([.subscribe(topic: .all, since: since, epoch: clientEpoch)])
            guard case .subscription(let messages) = Self.replies(out)[0] else { Issue.record("no subscription"); return }
            let first = try Self.json(messages[0])
            #expect(first["type"]?.stringValue == "snapshot" && first["recovered"]?.boolValue == false, "since \(since)")
        }
        let out = await hub.handle([.subscribe(topic: .all, since: 2, epoch: epoch)])  // 3, 4, 5 are in the ring
        guard case .subscription(let messages) = Self.replies(out)[0] else { return }
        #expect(try Self.json(messages[0])["type"]?.stringValue == "resumed")
        #expect(messages.count == 4)
    }

    @Test func leaseGoesStaleThenExpires() async throws {
        let (hub, clock) = Self.make()
        let create = try TaskValidation.create(Self.body(#"{"id":"a","title":"A","lease_s":1,"expire_s":3}"#))
        _ = await hub.handle([.operation(.create(create)), .operation(.start(id: "a"))])
        final class Sink: TaskEventSink, @unchecked Sendable {
            var names: [String] = []
            func publish(_ events: [PublishedEvent]) {
                for e in events { names.append((try? JSONParser.parse(e.messages[0].json))?["event"]?.stringValue ?? "?") }
            }
        }
        let sink = Sink()
        await hub.addSink(sink)
        clock.now += 999
        await hub.tick()
        #expect(sink.names.isEmpty)
        clock.now += 2
        await hub.tick()
        #expect(sink.names == ["stale"])
        let out = await hub.handle([.operation(.heartbeat(id: "a"))], from: sink)  // at +1001
        #expect(Self.events(out).count == 1)  // stale cleared: a progress event
        clock.now += 998  // +1999: the renewed lease runs to +2001
        await hub.tick()
        #expect(sink.names == ["stale"])
        clock.now += 3  // +2002
        await hub.tick()
        #expect(sink.names == ["stale", "stale"])
        clock.now += 1_998  // +4000: expiry is the heartbeat + 3 s = +4001
        await hub.tick()
        #expect(sink.names == ["stale", "stale"])
        clock.now += 2
        await hub.tick()
        #expect(sink.names == ["stale", "stale", "failed"])
        let get = await hub.handle([.get(id: "a")])
        guard case .task(let json, _, let status) = Self.replies(get)[0] else { return }
        #expect(status == .failed)
        #expect(try Self.json(json)["error"]?["code"]?.stringValue == "lease_expired")
    }

    @Test func aPlainHeartbeatShowsItsHeartbeatAtInTheAnswerAndLaterReads() async throws {
        let (hub, clock) = Self.make()
        let create = try TaskValidation.create(Self.body(#"{"id":"a","title":"A","lease_s":10}"#))
        _ = await hub.handle([.operation(.create(create)), .operation(.start(id: "a"))])
        let startedAt = try Self.json(Self.taskJSON(await hub.handle([.get(id: "a")])))["heartbeat_at"]?.stringValue
        clock.now += 2_000
        let beat = await hub.handle([.operation(.heartbeat(id: "a"))])
        #expect(Self.events(beat).isEmpty)  // nobody is told of a plain heartbeat
        let answered = try Self.json(Self.taskJSON(beat))["heartbeat_at"]?.stringValue
        let read = try Self.json(Self.taskJSON(await hub.handle([.get(id: "a")])))["heartbeat_at"]?.stringValue
        #expect(startedAt != nil && answered != startedAt)
        #expect(read == answered)
    }

    @Test func retentionAndTheTaskCapRemoveTheOldestTerminalTasks() async throws {
        let (hub, clock) = Self.make {
            $0.maxTasks = 3
            $0.retentionSeconds = 60
        }
        var requests: [TaskRequest] = []
        for i in 0..<3 {
            requests.append(.operation(.create(try TaskValidation.create(Self.body("{\"id\":\"t\(i)\",\"title\":\"T\"}")))))
            requests.append(.operation(.cancel(id: "t\(i)")))
        }
        _ = await hub.handle(requests)
        let out = await hub.handle([.operation(.create(try TaskValidation.create(Self.body(#"{"id":"n","title":"N"}"#))))])
        let removed = Self.events(out).filter { $0.taskJSON == nil }.map(\.taskID)
        #expect(removed == ["t0"])
        clock.now += 61_000
        final class Sink: TaskEventSink, @unchecked Sendable {
            var removed: [String] = []
            func publish(_ events: [PublishedEvent]) { removed += events.filter { $0.taskJSON == nil }.map(\.taskID) }
        }
        let sink = Sink()
        await hub.addSink(sink)
        await hub.tick()
        #expect(sink.removed == ["t1", "t2"])
        #expect(await hub.stats.taskCount == 1)
    }

    @Test func aFullHubOfActiveTasksRefusesCreateWith429() async throws {
        let (hub, _) = Self.make { $0.maxTasks = 1 }
        _ = await hub.handle([.operation(.create(try TaskValidation.create(Self.body(#"{"id":"a","title":"A"}"#))))])
        let out = await hub.handle([.operation(.create(try TaskValidation.create(Self.body(#"{"id":"b","title":"B"}"#))))])
        guard case .failure(let error) = Self.replies(out)[0] else { Issue.record("accepted"); return }
        #expect(error.status == 429)
    }
}
