import HeraldWire
import Testing
@testable import HeraldTasks

/// The statistics on the broker's socket: request 8, reply kind 9, and the duration histograms
/// inside reply kind 5 — round trips, every truncation an error, bad values refused.
@Suite struct TaskBatchCodecStatisticsTests {
    static let requests: [TaskRequest] = [
        .statistics(owner: "bob", windowSeconds: 3_600),
        .statistics(owner: nil, windowSeconds: 0.25),
        .scoped(owner: "alice", .statistics(owner: "bob", windowSeconds: TaskStatsQuery.maxWindowSeconds)),
    ]

    @Test func statisticsRequestsRoundTripWithTag8() throws {
        let bytes = TaskBatchCodec.encode(requests: Self.requests)
        #expect(bytes[4] == 8)  // after the u32 count: the request kind
        let decoded = try TaskBatchCodec.decodeRequests(bytes)
        #expect(TaskBatchCodec.encode(requests: decoded) == bytes)
        guard case .statistics(let owner, let window) = decoded[0], case .statistics(nil, let quarter) = decoded[1],
              case .scoped("alice", .statistics("bob", let max)) = decoded[2] else {
            Issue.record("did not come back: \(decoded)")
            return
        }
        #expect(owner == "bob" && window == 3_600 && quarter == 0.25 && max == TaskStatsQuery.maxWindowSeconds)
        for cut in 0..<bytes.count {
            #expect(throws: BrokerFrameError.self) { try TaskBatchCodec.decodeRequests(Array(bytes[..<cut])) }
        }
    }

    @Test func aWindowOutOfRangeOrAnInvalidOwnerIsABrokenFrame() {
        for window in [0, -1, .nan, .infinity, TaskStatsQuery.maxWindowSeconds.nextUp] {
            var w = BrokerPayloadWriter()
            w.u32(1); w.u8(8); w.bool(false); w.double(window)
            #expect(throws: BrokerFrameError.self) { try TaskBatchCodec.decodeRequests(w.bytes) }
        }
        var w = BrokerPayloadWriter()
        w.u32(1); w.u8(8); w.bool(true); w.string("bad owner"); w.double(60)
        #expect(throws: BrokerFrameError.self) { try TaskBatchCodec.decodeRequests(w.bytes) }
    }

    @Test func aStatisticsReplyRoundTripsAsKind9() throws {
        let json = Array(#"{"window_s":60,"finished":0}"#.utf8)
        let bytes = TaskBatchCodec.encode(outputs: [.reply(index: 3, .statistics(json: json))])
        #expect(bytes[4] == 2 && bytes[9] == 9)  // a reply, index u32, then its kind
        guard case .reply(3, .statistics(let back))? = try TaskBatchCodec.decodeOutputs(bytes).first else {
            Issue.record("no statistics reply")
            return
        }
        #expect(back == json)
    }

    @Test func theDurationHistogramsTravelInsideTheStatsReply() async throws {
        var durations = TaskDurationHistograms()
        durations[.succeeded].observe(milliseconds: 250)
        durations[.succeeded].observe(milliseconds: 7_200_000)
        durations[.cancelled].observe(milliseconds: 42)
        let stats = TaskHubStats(seq: 9, epoch: "e", countsByStatus: [.succeeded: 2], eventsPublished: 9, taskCount: 3, durations: durations,
                                 storeFailing: true)
        let bytes = TaskBatchCodec.encode(outputs: [.reply(index: 0, .stats(stats))])
        guard case .reply(0, .stats(let back))? = try TaskBatchCodec.decodeOutputs(bytes).first else {
            Issue.record("no stats reply")
            return
        }
        #expect(back.durations == durations && back.taskCount == 3 && back.countsByStatus == [.succeeded: 2] && back.storeFailing)
        for cut in 0..<bytes.count {
            #expect(throws: BrokerFrameError.self) { try TaskBatchCodec.decodeOutputs(Array(bytes[..<cut])) }
        }
    }

    @Test func histogramsWithOtherBucketsAreABrokenFrame() throws {
        let stats = TaskHubStats(seq: 0, epoch: "e", countsByStatus: [:], eventsPublished: 0, taskCount: 0)
        var bytes = TaskBatchCodec.encode(outputs: [.reply(index: 0, .stats(stats))])
        let buckets = TaskDurationHistogram.bucketBoundsMilliseconds.count + 1
        // The succeeded histogram's bucket count (the store-failing byte comes last).
        let first = bytes.count - 1 - 3 * (4 + 8 * buckets + 8)
        #expect(bytes[first + 3] == UInt8(buckets))
        bytes[first + 3] += 1
        #expect(throws: BrokerFrameError.self) { try TaskBatchCodec.decodeOutputs(bytes) }
    }
}
