import HeraldStore
import HeraldWire
import Testing
@testable import HeraldTasks

/// `timeout_s` and `stall_s` in the actor, with a mock clock: each fires once, at its time,
/// as one `failed` event; heartbeats do not hold off a stall, progress does; a retry restarts
/// both; deadlines that passed while the server was down fire on the first tick after restore.
@Suite struct TaskHubDeadlineTests {
    typealias Hub = TaskHubTests

    /// Names of the events a sink receives, and the error code of each `failed` one.
    final class Sink: TaskEventSink, @unchecked Sendable {
        var names: [String] = []
        var failures: [String] = []
        func publish(_ events: [PublishedEvent]) {
            for event in events {
                guard let message = try? JSONParser.parse(event.messages[0].json) else { continue }
                let name = message["event"]?.stringValue ?? "removed"
                names.append(name)
                if name == "failed" { failures.append(message["task"]?["error"]?["code"]?.stringValue ?? "?") }
            }
        }
    }

    static func create(_ json: String) throws -> TaskRequest {
        .operation(.create(try TaskValidation.create(Hub.body(json))))
    }

    static func progress(_ id: String, _ json: String) throws -> TaskRequest {
        .operation(.progress(id: id, try TaskValidation.progress(Hub.body(json))))
    }

    static func task(_ hub: TaskHub, _ id: String) async throws -> JSONObject {
        guard case .task(let json, _, _) = Hub.replies(await hub.handle([.get(id: id)]))[0] else {
            Issue.record("no task \(id)")
            return JSONObject()
        }
        return try Hub.json(json)
    }

    /// A hub with `json` created and started at the clock's time, and a sink attached after.
    static func started(_ json: String, _ configure: (inout TaskHubConfiguration) -> Void = { _ in }) async throws
        -> (TaskHub, TaskHubTests.Clock, Sink) {
        let (hub, clock) = Hub.make(configure)
        let id = try #require(try JSONParser.parse(Hub.body(json))["id"]?.stringValue)
        _ = await hub.handle([try create(json), .operation(.start(id: id))])
        let sink = Sink()
        await hub.addSink(sink)
        return (hub, clock, sink)
    }

    // MARK: timeout_s

    @Test func timeoutFailsTheTaskOnceAtItsTimeWhateverItsHeartbeats() async throws {
        let (hub, clock, sink) = try await Self.started(#"{"id":"a","title":"A","timeout_s":2,"stall_s":60}"#)
        let start = clock.now
        for at in stride(from: 300, through: 1_800, by: 300) {
            clock.now = start + Int64(at)
            _ = await hub.handle([.operation(.heartbeat(id: "a")), try Self.progress("a", "{\"done\":\(at)}")], from: sink)
            await hub.tick()
        }
        clock.now = start + 1_999
        await hub.tick()
        #expect(sink.names.isEmpty)
        clock.now = start + 2_000
        await hub.tick()
        #expect(sink.names == ["failed"] && sink.failures == ["timeout"])
        let task = try await Self.task(hub, "a")
        #expect(task["status"]?.stringValue == "failed" && task["error"]?["code"]?.stringValue == "timeout")
        #expect(task["error"]?["message"]?.stringValue == "not finished 2 s after it started (timeout_s 2)")
        #expect(task["finished_at"]?.stringValue != nil && task["timeout_s"]?.numberValue == 2)
        clock.now = start + 120_000  // the stall and the lease would be due now: nothing more happens
        await hub.tick()
        #expect(sink.names == ["failed"])
    }

    @Test func aCancellingTaskTimesOutButDoesNotStall() async throws {
        let (hub, clock, sink) = try await Self.started(#"{"id":"a","title":"A","timeout_s":5,"stall_s":1}"#)
        let start = clock.now
        _ = await hub.handle([.operation(.cancel(id: "a"))], from: sink)
        clock.now = start + 4_999
        await hub.tick()
        #expect(sink.names.isEmpty)  // stall_s passed long ago: a cancelling task is expected to stop progressing
        clock.now = start + 5_000
        await hub.tick()
        #expect(sink.failures == ["timeout"])
    }

    @Test func aFinishedTaskNeverTimesOut() async throws {
        let (hub, clock, sink) = try await Self.started(#"{"id":"a","title":"A","timeout_s":1}"#)
        _ = await hub.handle([.operation(.complete(id: "a", message: nil, result: nil))], from: sink)
        clock.now += 10_000
        await hub.tick()
        #expect(sink.names.isEmpty)
        #expect(try await Self.task(hub, "a")["status"]?.stringValue == "succeeded")
    }

    // MARK: stall_s

    @Test func heartbeatsDoNotHoldOffAStall() async throws {
        let (hub, clock, sink) = try await Self.started(#"{"id":"a","title":"A","stall_s":1.5}"#)
        let start = clock.now
        for at in stride(from: 300, through: 1_200, by: 300) {
            clock.now = start + Int64(at)
            _ = await hub.handle([.operation(.heartbeat(id: "a"))], from: sink)
            await hub.tick()
        }
        clock.now = start + 1_499
        await hub.tick()
        #expect(sink.names.isEmpty)
        clock.now = start + 1_500
        await hub.tick()
        #expect(sink.names == ["failed"] && sink.failures == ["stalled"])
        let task = try await Self.task(hub, "a")
        #expect(task["error"]?["message"]?.stringValue == "no change of done, percent or message for 1.5 s (stall_s 1.5)")
        #expect(task["progress_at"]?.isNull == true)
    }

    @Test func eachChangeOfDonePercentOrMessageRestartsTheStall() async throws {
        let (hub, clock, sink) = try await Self.started(#"{"id":"a","title":"A","stall_s":1}"#)
        let start = clock.now
        // done at +800, percent at +1600, message at +2400: never 1 s without a change.
        for (at, body) in [(800, #"{"done":1}"#), (1_600, #"{"percent":5}"#), (2_400, #"{"message":"copying"}"#)] {
            clock.now = start + Int64(at) - 1
            await hub.tick()
            clock.now = start + Int64(at)
            _ = await hub.handle([try Self.progress("a", body)], from: sink)
            await hub.tick()
        }
        #expect(sink.failures.isEmpty)
        #expect(try await Self.task(hub, "a")["progress_at"]?.stringValue != nil)
        // The same values again are no progress: the stall still counts from +2400.
        clock.now = start + 3_000
        _ = await hub.handle([try Self.progress("a", #"{"done":1,"percent":5,"message":"copying"}"#)], from: sink)
        clock.now = start + 3_399
        await hub.tick()
        #expect(sink.failures.isEmpty)
        clock.now = start + 3_400
        await hub.tick()
        #expect(sink.failures == ["stalled"])
    }

    @Test func progressAtMovesOnlyWhenDonePercentOrMessageChange() async throws {
        let (hub, clock, sink) = try await Self.started(#"{"id":"a","title":"A","total":10}"#)
        #expect(try await Self.task(hub, "a")["progress_at"]?.isNull == true)
        clock.now += 1_000
        _ = await hub.handle([try Self.progress("a", #"{"done":2}"#)], from: sink)
        let first = try await Self.task(hub, "a")["progress_at"]?.stringValue
        #expect(first == RFC3339.format(millisecondsSince1970: clock.now))
        clock.now += 1_000
        _ = await hub.handle([.operation(.heartbeat(id: "a")), try Self.progress("a", #"{"done":2}"#)], from: sink)
        #expect(try await Self.task(hub, "a")["progress_at"]?.stringValue == first)
        clock.now += 1_000
        _ = await hub.handle([try Self.progress("a", #"{"total":20}"#)], from: sink)  // 20 % → 10 %: the percent changed
        #expect(try await Self.task(hub, "a")["progress_at"]?.stringValue == RFC3339.format(millisecondsSince1970: clock.now))
    }

    // MARK: Retry, restore, limits

    @Test func aRetryRestartsBothDeadlinesFromTheNewStart() async throws {
        let (hub, clock, sink) = try await Self.started(#"{"id":"a","title":"A","timeout_s":2,"stall_s":1.5}"#)
        let start = clock.now
        _ = await hub.handle([try Self.progress("a", #"{"done":3,"message":"m"}"#)], from: sink)
        clock.now = start + 1_500
        await hub.tick()
        #expect(sink.failures == ["stalled"])
        clock.now = start + 10_000
        let out = await hub.handle([.operation(.retry(id: "a"))], from: sink)
        guard case .task(let json, _, _) = Hub.replies(out)[0] else { Issue.record("retry refused"); return }
        let retried = try Hub.json(json)
        #expect(retried["progress_at"]?.isNull == true && retried["timeout_s"]?.numberValue == 2 && retried["stall_s"]?.numberValue == 1.5)
        clock.now = start + 20_000  // queued: no deadline runs
        await hub.tick()
        #expect(sink.failures == ["stalled"])
        _ = await hub.handle([.operation(.start(id: "a"))], from: sink)
        let restart = clock.now
        for at in stride(from: 400, through: 1_600, by: 400) {  // progress every 0.4 s: no stall
            clock.now = restart + Int64(at)
            _ = await hub.handle([try Self.progress("a", "{\"done\":\(at)}")], from: sink)
            await hub.tick()
        }
        clock.now = restart + 1_999
        await hub.tick()
        #expect(sink.failures == ["stalled"])
        clock.now = restart + 2_000
        await hub.tick()
        #expect(sink.failures == ["stalled", "timeout"])
    }

    @Test func deadlinesThatPassedWhileTheServerWasDownFireOnTheFirstTick() async throws {
        let store = MemoryTaskStore()
        let clock = TaskHubTests.Clock()
        let first = TaskHub(store: store, clock: { clock.now })
        _ = try await first.restore()
        // Hour-long leases: only the deadlines under test are due after the downtime.
        _ = await first.handle([try Self.create(#"{"id":"t","title":"T","lease_s":3600,"timeout_s":2}"#), .operation(.start(id: "t")),
                                try Self.create(#"{"id":"s","title":"S","lease_s":3600,"stall_s":60}"#), .operation(.start(id: "s")),
                                try Self.create(#"{"id":"ok","title":"OK","lease_s":3600,"timeout_s":600,"stall_s":600}"#),
                                .operation(.start(id: "ok"))])
        clock.now += 30_000
        _ = await first.handle([try Self.progress("s", #"{"done":1}"#)])  // the stall now counts from here
        try await first.shutdown()

        clock.now += 60_000  // down for a minute
        let second = TaskHub(store: store, clock: { clock.now })
        _ = try await second.restore()
        let t = try await Self.task(second, "t")
        #expect(t["timeout_s"]?.numberValue == 2 && t["status"]?.stringValue == "running")
        #expect(try await Self.task(second, "s")["progress_at"]?.stringValue != nil)
        let sink = Sink()
        await second.addSink(sink)
        await second.tick()
        #expect(sink.failures.sorted() == ["stalled", "timeout"])
        #expect(sink.names == ["failed", "failed"])
        #expect(try await Self.task(second, "ok")["status"]?.stringValue == "running")
    }

    @Test func aTimeoutFreesTheOwnersActiveSlot() async throws {
        let (hub, clock, sink) = try await Self.started(#"{"id":"a","title":"A","owner":"bob","timeout_s":1}"#) { $0.ownerMaxActive = 1 }
        let b = try Self.create(#"{"id":"b","title":"B","owner":"bob"}"#)
        guard case .failure(let refusal) = Hub.replies(await hub.handle([b], from: sink))[0] else { Issue.record("accepted"); return }
        #expect(refusal.code == "too_many_active")
        clock.now += 1_000
        await hub.tick()
        #expect(sink.failures == ["timeout"])
        guard case .task = Hub.replies(await hub.handle([b], from: sink))[0] else { Issue.record("still refused"); return }
    }

    // MARK: Defaults

    @Test func serverDefaultsApplyUnlessTheBodyGivesADeadlineOrNull() async throws {
        let (hub, _) = Hub.make {
            $0.defaultTimeoutSeconds = 3_600
            $0.defaultStallSeconds = 300
        }
        _ = await hub.handle([try Self.create(#"{"id":"d","title":"D"}"#),
                              try Self.create(#"{"id":"own","title":"O","timeout_s":10,"stall_s":20}"#),
                              try Self.create(#"{"id":"none","title":"N","timeout_s":null,"stall_s":null}"#)])
        let d = try await Self.task(hub, "d")
        #expect(d["timeout_s"]?.numberValue == 3_600 && d["stall_s"]?.numberValue == 300)
        let own = try await Self.task(hub, "own")
        #expect(own["timeout_s"]?.numberValue == 10 && own["stall_s"]?.numberValue == 20)
        let none = try await Self.task(hub, "none")
        #expect(none["timeout_s"]?.isNull == true && none["stall_s"]?.isNull == true)
    }

    @Test func withoutDeadlinesTheFieldsAreNullAndNothingFires() async throws {
        let (hub, clock, sink) = try await Self.started(#"{"id":"a","title":"A","lease_s":86400}"#)
        let task = try await Self.task(hub, "a")
        #expect(task["timeout_s"]?.isNull == true && task["stall_s"]?.isNull == true && task["progress_at"]?.isNull == true)
        clock.now += 80_000_000
        await hub.tick()
        #expect(sink.names.isEmpty)
    }

    // MARK: The heap

    @Test func finishedTasksWithLongDeadlinesDoNotPileUpInTheHeap() async throws {
        let (hub, clock) = Hub.make()
        for i in 0..<3 * DeadlineHeap.compactionSlack {
            let id = "t\(i)"
            _ = await hub.handle([try Self.create("{\"id\":\"\(id)\",\"title\":\"T\",\"timeout_s\":2592000,\"stall_s\":2592000}"),
                                  .operation(.start(id: id)), .operation(.complete(id: id, message: nil, result: nil)),
                                  .operation(.delete(id: id))])
            if i % 100 == 0 { await hub.tick() }
        }
        await hub.tick()
        #expect(await hub.deadlines.count <= DeadlineHeap.compactionSlack)
        // The live ones survive a compaction.
        _ = await hub.handle([try Self.create(#"{"id":"live","title":"L","timeout_s":5}"#), .operation(.start(id: "live"))])
        await hub.compactDeadlinesIfNeeded()
        let sink = Sink()
        await hub.addSink(sink)
        clock.now += 5_000
        await hub.tick()
        #expect(sink.failures == ["timeout"])
    }

    /// The hub keeps one JSON per task: a typical one is just over 512 bytes, and a buffer
    /// doubled to 1,024 while writing it cost ~0.5 KB per task (bench/deadlines).
    @Test func aTaskJSONIsKeptWithoutSpareCapacity() throws {
        var t = TaskRecord(id: "t12345", title: "export batch 12345", owner: "user5", total: 1000, leaseSeconds: 3600,
                           expireSeconds: 36000, meta: JSONObject(), now: 1_800_000_000_000)
        t.timeoutSeconds = 86_400
        t.stallSeconds = 3_600
        _ = try t.start(now: 1_800_000_000_000)
        _ = try t.report(ProgressInput(done: 10, message: "working"), now: 1_800_000_000_500)
        let json = t.json
        #expect(json.count > 512)
        #expect(json.capacity < json.count + 32, "capacity \(json.capacity) for \(json.count) bytes")
        var direct: [UInt8] = []
        t.encodeJSON(into: &direct)
        #expect(json == direct)
    }

    @Test func entriesOrderByDeadlineAndKeepTheirKind() {
        var heap = DeadlineHeap()
        heap.push(2_000, "b", .stall)
        heap.push(1_000, "a", .timeout)
        heap.push(1_000, "c", .lease)
        heap.push(3_000, "d", .timeout)
        #expect(heap.popDue(now: 999) == nil)
        let due = [heap.popDue(now: 2_000), heap.popDue(now: 2_000), heap.popDue(now: 2_000), heap.popDue(now: 2_000)]
        #expect(due.map { $0?.id } == ["c", "a", "b", nil])
        #expect(due.compactMap { $0?.kind } == [.lease, .timeout, .stall])
        #expect(due.compactMap { $0?.deadline } == [1_000, 1_000, 2_000])
        #expect(heap.earliest == 3_000 && heap.count == 1)
        #expect(MemoryLayout<DeadlineHeap.Entry>.stride == 24)
    }
}
