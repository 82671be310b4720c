import HeraldStore
import HeraldWire
import Testing
@testable import HeraldTasks

/// What issue 18 made cheaper on a progress report keeps its bytes: timestamps written in
/// place, topic texts written on demand (here and across the broker), no store changes nor
/// journal built for `NullTaskStore`.
@Suite struct ProgressPathTests {
    static func body(_ s: String) -> [UInt8] { Array(s.utf8) }

    static func events(_ outputs: [HubOutput]) -> [PublishedEvent] {
        outputs.compactMap { if case .event(let e) = $0 { return e } else { return nil } }
    }

    @Test func timestampsAreWrittenAsBefore() {
        let cases: [(Int64, String)] = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_700_000_000_123, "2023-11-14T22:13:20.123Z"),
            (1_800_000_000_007, "2027-01-15T08:00:00.007Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
            (-62_167_219_200_000, "0000-01-01T00:00:00.000Z"),
            (4_107_542_399_999, "2100-02-28T23:59:59.999Z"),
            (4_107_542_400_000, "2100-03-01T00:00:00.000Z"),
            (1_798_761_599_999, "2026-12-31T23:59:59.999Z"),
            (253_402_300_800_000, "10000-01-01T00:00:00.000Z"),
        ]
        for (ms, text) in cases {
            #expect(RFC3339.format(millisecondsSince1970: ms) == text)
            var out = Array("x".utf8)
            RFC3339.write(millisecondsSince1970: ms, into: &out)
            #expect(out == Array("x\(text)".utf8))
        }
        for ms in stride(from: Int64(-86_400_000), to: 4_102_444_800_000, by: 9_876_543_211) {
            #expect(RFC3339.parse(RFC3339.format(millisecondsSince1970: ms)) == ms)
        }
    }

    /// The actor's time-text cache writes exactly `RFC3339.write`'s bytes, whatever came before:
    /// times of the cached second, older and newer seconds, negative times, years past 9999,
    /// with one cache carried across all of them (as the actor carries it across reports).
    @Test func theTimeTextCacheWritesWhatRFC3339Writes() {
        var times = TimeTextCache()
        let base: Int64 = 1_800_000_002_500
        var cases: [Int64] = [base, base + 1, base - 2_500, base + 499, base - 1, base + 1_000, base, -1, -1_001, 0, 999, 1_000,
                              253_402_300_799_999, 253_402_300_800_000, 253_402_300_800_001, base + 1_000]
        for ms in stride(from: Int64(0), to: 4_102_444_800_000, by: 98_765_432_101) { cases += [ms, ms + 7, ms - 1_000, ms] }
        // Across a whole day: every hour, minute and second digit, and the days around it.
        let day: Int64 = 1_800_000_000_000 / 86_400_000 * 86_400_000
        for ms in stride(from: day - 1, to: day + 86_400_001, by: 59_999) { cases += [ms, ms + 1] }
        cases += [day + 86_399_999, day, day - 86_400_000, day + 86_400_000, day + 86_399_999]
        for ms in cases {
            var viaCache = Array("x".utf8)
            times.write(millisecondsSince1970: ms, into: &viaCache)
            var direct = Array("x".utf8)
            RFC3339.write(millisecondsSince1970: ms, into: &direct)
            #expect(viaCache == direct, "\(ms)")
        }
        // And a task encoded with a cache warmed on other seconds is the task encoded alone.
        var task = TaskRecord(id: "a", title: "T", owner: nil, total: nil, leaseSeconds: 30, expireSeconds: 300,
                              meta: JSONObject(), now: base - 10_000)
        _ = try? task.start(now: base - 5_000)
        var scratch: [UInt8] = []
        #expect(task.json(scratch: &scratch, times: &times) == task.json)
        #expect(task.json(scratch: &scratch, times: &times) == task.json)
    }

    /// The task object is the same whether encoded through the actor's scratch buffer or alone,
    /// and every time field is there.
    @Test func theTaskJSONIsTheSameThroughTheScratchBuffer() throws {
        var task = TaskRecord(id: "a", title: "T", owner: "bob", total: 10, leaseSeconds: 30, expireSeconds: 300,
                              meta: JSONObject(), now: 1_800_000_000_000)
        _ = try task.start(now: 1_800_000_001_000)
        _ = try task.report(try TaskValidation.progress(Self.body(#"{"done":3,"message":"m"}"#)), now: 1_800_000_002_500)
        var scratch = Array(repeating: UInt8(ascii: "z"), count: 3000)
        let viaScratch = task.json(scratch: &scratch)
        #expect(viaScratch == task.json)
        #expect(viaScratch.count == viaScratch.capacity || viaScratch.count <= viaScratch.capacity)
        let object = try #require(try JSONParser.parse(viaScratch).objectValue)
        #expect(object["created_at"]?.stringValue == "2027-01-15T08:00:00.000Z")
        #expect(object["started_at"]?.stringValue == "2027-01-15T08:00:01.000Z")
        #expect(object["progress_at"]?.stringValue == "2027-01-15T08:00:02.500Z")
        #expect(object["heartbeat_at"]?.stringValue == "2027-01-15T08:00:02.500Z")
        #expect(object["finished_at"]?.isNull == true)
    }

    /// An actor's event writes each topic's text on demand: the same bytes the eager encoding
    /// made, for tasks with and without owner and for `removed`; and so after the broker hop.
    @Test func topicTextsOnDemandMatchTheEagerEncoding() async throws {
        let hub = TaskHub()
        let out = await hub.handle([
            .operation(.create(try TaskValidation.create(Self.body(#"{"id":"a","title":"A","owner":"bob"}"#)))),
            .operation(.create(try TaskValidation.create(Self.body(#"{"id":"b","title":"B"}"#)))),
            .operation(.start(id: "b")),
            .operation(.progress(id: "b", try TaskValidation.progress(Self.body(#"{"done":1,"message":"@@1"}"#)))),
            .operation(.cancel(id: "a")),
            .operation(.delete(id: "a")),
        ])
        let events = Self.events(out)
        #expect(events.count == 6)
        let decoded = try TaskBatchCodec.decodeEvents(TaskBatchCodec.encode(events: events))
        for (event, copy) in zip(events, decoded) {
            guard case .shared(let kind, let owner, let body) = event.content else {
                Issue.record("an actor's event carries its shared body"); continue
            }
            var topics: [TaskTopic] = [.all, .task(event.taskID)]
            if let owner { topics.append(.owner(owner)) }
            let eager = topics.map { (topic: $0.description, json: TaskEventEncoder.message(kind: kind, topic: $0, body: body)) }
            #expect(event.topicCount == eager.count)
            #expect((0..<event.topicCount).map { event.topic(at: $0) } == eager.map(\.topic))
            #expect((0..<event.topicCount).map { event.message(at: $0) } == eager.map(\.json))
            #expect(event.messages.map(\.topic) == eager.map(\.topic) && event.messages.map(\.json) == eager.map(\.json))
            #expect(copy.seq == event.seq && copy.taskID == event.taskID && copy.isProgress == event.isProgress && copy.taskJSON == event.taskJSON)
            #expect(copy.messages.map(\.topic) == eager.map(\.topic) && copy.messages.map(\.json) == eager.map(\.json))
        }
        #expect(events.map(\.topicCount) == [3, 2, 2, 2, 3, 3])
        let removed = try #require(try JSONParser.parse(events[5].message(at: 2)).objectValue)
        #expect(removed["type"]?.stringValue == "removed" && removed["topic"]?.stringValue == "owner:bob")
        // Events given as texts (tests, older frames) keep them as given.
        let given = PublishedEvent(seq: 9, taskID: "t", isProgress: true, taskJSON: nil, messages: [(topic: "x", json: [1, 2])])
        #expect(given.topicCount == 1 && given.topic(at: 0) == "x" && given.message(at: 0) == [1, 2])
        let givenCopy = try TaskBatchCodec.decodeEvents(TaskBatchCodec.encode(events: [given]))
        #expect(givenCopy.first?.messages.first?.topic == "x" && givenCopy.first?.messages.first?.json == [1, 2])
    }

    /// A store that keeps nothing gets no changes built for it; a real one gets every change.
    @Test func changesAreBuiltOnlyForAStoreThatKeepsThem() async throws {
        #expect(NullTaskStore().keepsNothing && !MemoryTaskStore().keepsNothing)
        let requests: [TaskRequest] = [
            .operation(.create(try TaskValidation.create(Self.body(#"{"id":"a","title":"A"}"#)))),
            .operation(.start(id: "a")),
            .operation(.progress(id: "a", try TaskValidation.progress(Self.body(#"{"done":1}"#)))),
        ]
        let memory = MemoryTaskStore()
        let kept = TaskHub(store: memory)
        _ = try await kept.restore()
        _ = await kept.handle(requests)
        #expect(try memory.load().tasks.count == 1 && memory.load().events.count == 3)
        let dropped = TaskHub(store: NullTaskStore())
        _ = try await dropped.restore()
        let out = await dropped.handle(requests)
        #expect(Self.events(out).map(\.seq) == [1, 2, 3])
        #expect(await dropped.pendingChanges.isEmpty)
        // Nor a journal: a commit that cannot fail is never rolled back (a staged turn is).
        let droppedPriors = await dropped.turn.priors.count
        let keptPriors = await kept.turn.priors.count
        #expect(droppedPriors == 0 && keptPriors > 0)
        let staged = await dropped.stage([.operation(.progress(id: "a", try TaskValidation.progress(Self.body(#"{"done":2}"#))))])
        #expect(staged.taskSeqs["a"] == 3)
        let afterStage = await dropped.reply(to: .get(id: "a"), now: 0)
        guard case .task(_, let seqAfterStage, _) = afterStage else { Issue.record("no task"); return }
        #expect(seqAfterStage == 3)  // the staged change was undone
        // History (resume) does not depend on the store.
        let resumed = await dropped.handle([.subscribe(topic: .task("a"), since: 1, epoch: await dropped.epoch)])
        guard case .reply(_, .subscription(let messages)) = try #require(resumed.last) else { Issue.record("no subscription"); return }
        #expect(messages.count == 3)  // resumed, then events 2 and 3
    }
}
