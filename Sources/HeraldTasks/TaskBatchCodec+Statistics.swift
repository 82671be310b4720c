import HeraldWire

// Layouts of the statistics requests and replies (`GET /api/stats`, the histograms of
// `/metrics`). Tags are part of the wire protocol: request 8 is `statistics`, reply kind 9 its
// JSON; the duration histograms follow the other fields of reply kind 5 (`stats`).
extension TaskBatchCodec {
    /// Request 8: owner presence u8, [owner], window seconds (f64).
    static func writeStatistics(owner: String?, windowSeconds: Double, _ w: inout BrokerPayloadWriter) {
        w.bool(owner != nil)
        if let owner { w.string(owner) }
        w.double(windowSeconds)
    }

    /// Holds a request to what the loop checked before sending it: a valid owner and a window
    /// in (0, `TaskStatsQuery.maxWindowSeconds`].
    static func readStatisticsRequest(_ r: inout BrokerPayloadReader) throws(BrokerFrameError) -> TaskRequest {
        var owner: String?
        if try r.bool("owner presence") {
            let name = try r.string("owner")
            guard TaskValidation.isValidOwner(name) else { throw BrokerFrameError("\(r.context) has an invalid statistics owner") }
            owner = name
        }
        let window = try r.double("window")
        guard window.isFinite, window > 0, window <= TaskStatsQuery.maxWindowSeconds else {
            throw BrokerFrameError("\(r.context) has a statistics window out of range")
        }
        return .statistics(owner: owner, windowSeconds: window)
    }

    /// For each of `TaskDurationHistograms.outcomes` in order: bucket count u32, that many
    /// counts (u64, not cumulative, `+Inf` last), the sum in milliseconds (u64).
    static func write(_ durations: TaskDurationHistograms, _ w: inout BrokerPayloadWriter) {
        for outcome in TaskDurationHistograms.outcomes {
            let histogram = durations[outcome]
            w.u32(UInt32(histogram.bucketCounts.count))
            for count in histogram.bucketCounts { w.u64(count) }
            w.u64(histogram.sumMilliseconds)
        }
    }

    static func readDurations(_ r: inout BrokerPayloadReader) throws(BrokerFrameError) -> TaskDurationHistograms {
        var durations = TaskDurationHistograms()
        let buckets = TaskDurationHistogram.bucketBoundsMilliseconds.count + 1
        for outcome in TaskDurationHistograms.outcomes {
            // Both ends run the same binary, so the buckets agree; a different count is a broken frame.
            guard try r.u32("bucket count") == buckets else { throw BrokerFrameError("\(r.context) has histograms with other buckets") }
            var counts: [UInt64] = []
            counts.reserveCapacity(buckets)
            for _ in 0..<buckets { counts.append(try r.u64("bucket")) }
            let sum = try r.u64("duration sum")
            durations[outcome] = TaskDurationHistogram(bucketCounts: counts, sumMilliseconds: sum)!
        }
        return durations
    }
}
