import HeraldWire

/// The figures of `GET /api/stats` over the tasks that finished within a window: how many
/// succeeded, failed and were cancelled, how long the successful ones ran, which error codes the
/// failures carried, and a per-minute timeline. Pure: the actor feeds it the finished tasks and
/// writes the JSON once.
struct TaskStatistics {
    /// `duration_s` percentiles, by the nearest-rank method: the p-th percentile of N sorted
    /// durations is the ⌈p/100 · N⌉-th of them, always a duration that really occurred (no
    /// interpolation), so p99 of 10 tasks is the slowest one.
    static let percentiles = [50, 90, 99]
    /// `errors` lists at most this many codes, the most frequent first. Codes are free text
    /// from workers; without a bound one buggy worker (a code per task) could make the answer
    /// as large as the window's failures. The rest still count in `failed`.
    static let maxErrorCodes = 100
    static let minuteMilliseconds: Int64 = 60_000

    struct MinuteTally: Equatable {
        var succeeded = 0
        var failed = 0
        var cancelled = 0
    }

    private(set) var succeeded = 0
    private(set) var failed = 0
    private(set) var cancelled = 0
    /// `finished_at − started_at` of each succeeded task, in milliseconds.
    private(set) var durations: [Int64] = []
    private(set) var errorCounts: [String: Int] = [:]
    /// Finishes per UTC minute (the minute's first millisecond since 1970).
    private(set) var minutes: [Int64: MinuteTally] = [:]

    var finished: Int { succeeded + failed + cancelled }

    /// succeeded / finished; nil when nothing finished (a rate of nothing is unknown, not 0).
    var successRate: Double? { finished == 0 ? nil : Double(succeeded) / Double(finished) }

    /// Counts one finished task (`finishedAt` set, status terminal; anything else is ignored).
    mutating func add(_ task: TaskRecord) {
        guard let finishedAt = task.finishedAt else { return }
        add(status: task.status, startedAt: task.startedAt, finishedAt: finishedAt, errorCode: task.error?.code)
    }

    /// Counts a task that became `status` at `finishedAt` (non-terminal statuses are ignored).
    mutating func add(status: TaskStatus, startedAt: Int64?, finishedAt: Int64, errorCode: String?) {
        let minute = Self.minute(of: finishedAt)
        switch status {
        case .succeeded:
            succeeded += 1
            minutes[minute, default: MinuteTally()].succeeded += 1
            // A succeeded task always started (complete needs running); a clock stepped back counts as 0.
            if let startedAt { durations.append(max(0, finishedAt - startedAt)) }
        case .failed:
            failed += 1
            minutes[minute, default: MinuteTally()].failed += 1
            if let errorCode { errorCounts[errorCode, default: 0] += 1 }
        case .cancelled:
            cancelled += 1
            minutes[minute, default: MinuteTally()].cancelled += 1
        case .queued, .running, .cancelling:
            break
        }
    }

    /// The nearest-rank percentile (see `percentiles`) of durations sorted ascending; nil when empty.
    static func nearestRank(_ sorted: [Int64], percent: Int) -> Int64? {
        guard !sorted.isEmpty else { return nil }
        let rank = max(1, (percent * sorted.count + 99) / 100)  // ⌈percent · N / 100⌉ in integers
        return sorted[min(rank, sorted.count) - 1]
    }

    /// The error codes by count, most frequent first, then by code; at most `maxErrorCodes`.
    var topErrors: [(code: String, count: Int)] {
        let all = errorCounts.map { (code: $0.key, count: $0.value) }
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.code < $1.code }
        return Array(all.prefix(Self.maxErrorCodes))
    }

    /// The minutes that had finishes, oldest first. Minutes without any are left out: a 30-day
    /// window would otherwise carry 43,200 mostly empty entries; a chart fills the gaps.
    var timeline: [(minute: Int64, tally: MinuteTally)] {
        minutes.sorted { $0.key < $1.key }.map { (minute: $0.key, tally: $0.value) }
    }

    /// The first millisecond of the UTC minute `ms` falls in (floor, also before 1970).
    static func minute(of ms: Int64) -> Int64 {
        let offset = ms % minuteMilliseconds
        return ms - (offset < 0 ? offset + minuteMilliseconds : offset)
    }

    /// `YYYY-MM-DDTHH:MM:00Z`.
    static func minuteText(_ minute: Int64) -> String {
        var out: [UInt8] = []
        var cache = DayCache()
        appendMinuteText(minute, into: &out, cache: &cache)
        return String(decoding: out, as: UTF8.self)
    }

    /// The `YYYY-MM-DDT` of the last day written: a 30-day window has up to 43,200 minutes, and
    /// formatting each from scratch was most of the answer's cost.
    struct DayCache {
        var day = Int64.min
        var date: [UInt8] = []
    }

    static func appendMinuteText(_ minute: Int64, into out: inout [UInt8], cache: inout DayCache) {
        let dayMilliseconds: Int64 = 86_400_000
        let remainder = minute % dayMilliseconds
        let day = (minute - remainder) / dayMilliseconds - (remainder < 0 ? 1 : 0)
        if day != cache.day {
            cache = DayCache(day: day, date: Array(RFC3339.format(millisecondsSince1970: day * dayMilliseconds).utf8.prefix(11)))
        }
        out.append(contentsOf: cache.date)
        let minuteOfDay = Int((minute - day * dayMilliseconds) / minuteMilliseconds)
        func twoDigits(_ value: Int) {
            out.append(UInt8(ascii: "0") + UInt8(value / 10))
            out.append(UInt8(ascii: "0") + UInt8(value % 10))
        }
        twoDigits(minuteOfDay / 60)
        out.append(UInt8(ascii: ":"))
        twoDigits(minuteOfDay % 60)
        out.append(contentsOf: ":00Z".utf8)
    }

    // MARK: JSON

    /// The contract's object, plus `owner` (whose tasks: the scope actually applied, null for
    /// every owner) and `at` (the authority's clock, where the window ends).
    func json(windowSeconds: Double, owner: String?, now: Int64, counts: [TaskStatus: Int]) -> [UInt8] {
        var out = Array(#"{"window_s":"#.utf8)
        JSONWriter.writeNumber(windowSeconds, into: &out)
        out.append(contentsOf: #","counts":{"#.utf8)
        for (i, status) in TaskStatus.allCases.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: "\"\(status.rawValue)\":\(max(0, counts[status] ?? 0))".utf8)
        }
        out.append(contentsOf: "},\"finished\":\(finished),\"succeeded\":\(succeeded),\"failed\":\(failed),\"cancelled\":\(cancelled)".utf8)
        out.append(contentsOf: #","success_rate":"#.utf8)
        if let successRate { JSONWriter.writeNumber(successRate, into: &out) } else { out.append(contentsOf: "null".utf8) }
        out.append(contentsOf: #","duration_s":"#.utf8)
        writeDurations(into: &out)
        out.append(contentsOf: #","errors":["#.utf8)
        for (i, error) in topErrors.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"code":"#.utf8)
            JSONWriter.writeString(error.code, into: &out)
            out.append(contentsOf: ",\"count\":\(error.count)}".utf8)
        }
        out.append(contentsOf: #"],"timeline":["#.utf8)
        var cache = DayCache()
        for (i, entry) in timeline.enumerated() {
            out.append(contentsOf: (i > 0 ? #",{"t":""# : #"{"t":""#).utf8)
            Self.appendMinuteText(entry.minute, into: &out, cache: &cache)
            out.append(contentsOf: #"","succeeded":"#.utf8)
            JSONWriter.writeNumber(Double(entry.tally.succeeded), into: &out)
            out.append(contentsOf: #","failed":"#.utf8)
            JSONWriter.writeNumber(Double(entry.tally.failed), into: &out)
            out.append(contentsOf: #","cancelled":"#.utf8)
            JSONWriter.writeNumber(Double(entry.tally.cancelled), into: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: #"],"owner":"#.utf8)
        if let owner { JSONWriter.writeString(owner, into: &out) } else { out.append(contentsOf: "null".utf8) }
        out.append(contentsOf: ",\"at\":\"\(RFC3339.format(millisecondsSince1970: now))\"}".utf8)
        return out
    }

    /// `{"p50":…,"p90":…,"p99":…,"max":…}` in seconds with millisecond precision, or null when
    /// no task succeeded.
    private func writeDurations(into out: inout [UInt8]) {
        guard !durations.isEmpty else {
            out.append(contentsOf: "null".utf8)
            return
        }
        let sorted = durations.sorted()
        var fields = Self.percentiles.map { ("p\($0)", Self.nearestRank(sorted, percent: $0)!) }
        fields.append(("max", sorted[sorted.count - 1]))
        out.append(UInt8(ascii: "{"))
        for (i, (name, ms)) in fields.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: "\"\(name)\":".utf8)
            JSONWriter.writeNumber(Double(ms) / 1000, into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}
