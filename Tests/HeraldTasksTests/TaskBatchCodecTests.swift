import HeraldTestSupport
import HeraldWire
import Testing
@testable import HeraldTasks

@Suite struct TaskBatchCodecTests {
    static func body(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// One request of every kind and field combination.
    static func everyRequest() throws -> [TaskRequest] {
        [
            .operation(.create(try TaskValidation.create(body(#"{"id":"a","title":"Ä title","owner":"bob","total":10,"lease_s":1.5,"meta":{"k":[1,"x",null]}}"#)))),
            .operation(.create(try TaskValidation.create(body(#"{"title":"no id"}"#)))),
            .operation(.start(id: "a")),
            .operation(.progress(id: "a", try TaskValidation.progress(body(#"{"done":3,"total":null,"message":"m"}"#)))),
            .operation(.progress(id: "a", try TaskValidation.progress(body(#"{"done":4,"total":20,"percent":5}"#)))),
            .operation(.progress(id: "a", ProgressInput())),
            .operation(.heartbeat(id: "a")),
            .operation(.complete(id: "a", message: "done", result: .object(JSONObject([("path", .string("/x"))])))),
            .operation(.complete(id: "a", message: nil, result: nil)),
            .operation(.fail(id: "a", TaskFailure(code: "io", message: "disk"))),
            .operation(.cancel(id: "a")), .operation(.confirmCancelled(id: "a")), .operation(.retry(id: "a")),
            .operation(.delete(id: "a")),
            .get(id: "a"),
            .list(owner: "bob", statuses: [.running, .failed], limit: 5),
            .list(owner: nil, statuses: [], limit: nil),
            .subscribe(topic: .owner("bob"), since: 7, epoch: "e1"),
            .subscribe(topic: .all, since: nil, epoch: nil),
            .stats,
            .scoped(owner: "bob", .get(id: "a")),
            .batch(.create([try TaskValidation.create(body(#"{"id":"c","title":"C","owner":"bob","timeout_s":60}"#)), try TaskValidation.create(body(#"{"title":"d"}"#))])),
            .batch(.change(.retry, .ids(["a", "b"]))),
            .batch(.change(.cancel, .filter(owner: "bob", statuses: [.failed, .queued]))),
            .scoped(owner: "bob", .batch(.change(.delete, .filter(owner: nil, statuses: [])))),
            .scoped(owner: "bob", .subscribe(topic: .task("a"), since: 3, epoch: nil)),
            .operation(.create(try TaskValidation.create(body(#"{"title":"deadlines","timeout_s":3600,"stall_s":null}"#)))),
            .operation(.create(try TaskValidation.create(body(#"{"title":"stall only","stall_s":1.5}"#)))),
        ]
    }

    @Test func createDeadlinesRoundTripAsAbsentNullOrSeconds() throws {
        let decoded = try TaskBatchCodec.decodeRequests(TaskBatchCodec.encode(requests: try Self.everyRequest()))
        let creates = decoded.compactMap { if case .operation(.create(let input)) = $0 { return input } else { return nil } }
        let deadlines = creates.map { [$0.timeout, $0.stall] }
        #expect(deadlines == [[.serverDefault, .serverDefault], [.serverDefault, .serverDefault],
                              [.seconds(3_600), .off], [.serverDefault, .seconds(1.5)]])
    }

    @Test func aDeadlineNoServerWouldAcceptIsRefusedByTheBroker() throws {
        var input = try TaskValidation.create(Self.body(#"{"title":"t"}"#))
        for bad in [0, -1, TaskValidation.maxDeadlineSeconds + 0.001, .nan] {
            input.timeout = .seconds(bad)
            #expect(throws: BrokerFrameError.self) { try TaskBatchCodec.decodeRequests(TaskBatchCodec.encode(requests: [.operation(.create(input))])) }
        }
    }

    @Test func everyRequestKindRoundTrips() throws {
        let requests = try Self.everyRequest()
        let bytes = TaskBatchCodec.encode(requests: requests)
        let decoded = try TaskBatchCodec.decodeRequests(bytes)
        #expect(decoded.count == requests.count)
        #expect(TaskBatchCodec.encode(requests: decoded) == bytes)
        guard case .operation(.progress(_, let p)) = decoded[3], case .operation(.progress(_, let q)) = decoded[4],
              case .operation(.progress(_, let empty)) = decoded[5] else {
            Issue.record("progress did not come back")
            return
        }
        #expect(p.total == .some(nil) && p.done == 3 && p.message == "m")  // null: unknown from now on
        #expect(q.total == .some(.some(20)) && q.percent == 5)
        #expect(empty.total == nil && empty.done == nil)  // absent: left alone
        guard case .operation(.create(let create)) = decoded[0] else { return }
        #expect(create.title == "Ä title" && create.owner == "bob" && create.leaseSeconds == 1.5 && create.expireSeconds == 15)
        #expect(create.meta["k"] == .array([.number(1), .string("x"), .null]))
    }

    @Test func outputsOfARealBatchRoundTrip() async throws {
        let hub = TaskHub()
        let outputs = await hub.handle(try Self.everyRequest())  // events, tasks, failures, list, subscription, stats
        #expect(outputs.count > 20)
        let bytes = TaskBatchCodec.encode(outputs: outputs)
        let decoded = try TaskBatchCodec.decodeOutputs(bytes)
        #expect(decoded.count == outputs.count)
        #expect(TaskBatchCodec.encode(outputs: decoded) == bytes)
        let events = decoded.compactMap { if case .event(let e) = $0 { return e } else { return nil } }
        #expect(events.map(\.seq) == Array(1...UInt64(events.count)))
        #expect(events[0].messages.map(\.topic) == ["tasks", "task:a", "owner:bob"])
        let eventBytes = TaskBatchCodec.encode(events: events)
        #expect(TaskBatchCodec.encode(events: try TaskBatchCodec.decodeEvents(eventBytes)) == eventBytes)
    }

    /// A refusal's Retry-After crosses the broker (reply kind 7); one without keeps kind 6's
    /// bytes exactly, so what older peers exchange is unchanged.
    @Test func aFailureWithRetryAfterRoundTripsAndOneWithoutKeepsItsOldLayout() throws {
        let limited = TaskError(status: 429, code: "rate_limited", message: "wait", retryAfterSeconds: 17)
        let plain = TaskError(status: 404, code: "not_found", message: "no")
        let bytes = TaskBatchCodec.encode(outputs: [.reply(index: 0, .failure(limited)), .reply(index: 1, .failure(plain))])
        let decoded = try TaskBatchCodec.decodeOutputs(bytes)
        guard decoded.count == 2, case .reply(0, .failure(let first)) = decoded[0], case .reply(1, .failure(let second)) = decoded[1] else {
            Issue.record("failures did not come back: \(decoded)")
            return
        }
        #expect(first == limited && second == plain)
        var old = BrokerPayloadWriter()
        old.u32(1); old.u8(2); old.u32(1); old.u8(6); old.u16(404); old.string("not_found"); old.string("no")
        #expect(TaskBatchCodec.encode(outputs: [.reply(index: 1, .failure(plain))]) == old.bytes)
        for cut in 0..<bytes.count {
            #expect(throws: BrokerFrameError.self) { try TaskBatchCodec.decodeOutputs(Array(bytes[..<cut])) }
        }
    }

    @Test func everyTruncationIsAnErrorNotACrash() throws {
        let bytes = TaskBatchCodec.encode(requests: try Self.everyRequest())
        for cut in 0..<bytes.count {
            #expect(throws: BrokerFrameError.self) { try TaskBatchCodec.decodeRequests(Array(bytes[..<cut])) }
        }
    }

    @Test func trailingBytesAndUnknownTagsAreErrors() throws {
        let bytes = TaskBatchCodec.encode(requests: [.stats])
        #expect(throws: BrokerFrameError.self) { try TaskBatchCodec.decodeRequests(bytes + [0]) }
        #expect(throws: BrokerFrameError.self) { try TaskBatchCodec.decodeRequests([0, 0, 0, 1, 99]) }  // request kind 99
        #expect(throws: BrokerFrameError.self) { try TaskBatchCodec.decodeRequests([0, 0, 0, 1, 1, 42]) }  // operation kind 42
        #expect(throws: BrokerFrameError.self) { try TaskBatchCodec.decodeOutputs([0, 0, 0, 1, 3]) }  // output kind 3
    }

    @Test func invalidJSONOrAnInvalidTopicInsideIsAnError() throws {
        var w = BrokerPayloadWriter()
        w.u32(1); w.u8(4); w.string("bad topic"); w.bool(false); w.bool(false)
        #expect(throws: BrokerFrameError.self) { try TaskBatchCodec.decodeRequests(w.bytes) }
        var good = TaskBatchCodec.encode(requests: [.operation(.complete(id: "a", message: nil, result: .string("r")))])
        good[good.count - 3] = UInt8(ascii: "{")  // the result's JSON text `"r"` → `{r"`
        #expect(throws: BrokerFrameError.self) { try TaskBatchCodec.decodeRequests(good) }
    }

    @Test func randomMutationsNeverCrash() throws {
        let valid = TaskBatchCodec.encode(requests: try Self.everyRequest())
        var rng = FeedSplits.SeededGenerator(seed: 42)
        for _ in 0..<2_000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = try? TaskBatchCodec.decodeRequests(bytes)
            _ = try? TaskBatchCodec.decodeOutputs(bytes)
        }
    }
}
