import HeraldStore
import HeraldTestSupport
import HeraldWire
import Testing
@testable import HeraldTasks

/// `GET /api/stats` in the actor, with a mock clock: tasks whose start and finish times the
/// test sets give exact percentiles, rates, errors and timeline minutes; the window at its
/// limit and one millisecond past it; the owner scope; the duration histograms.
@Suite struct TaskHubStatisticsTests {
    typealias Hub = TaskHubTests
    /// 2027-01-15T08:00:00Z, on a minute.
    static let base: Int64 = 1_800_000_000_000

    static func create(_ id: String, owner: String?) throws -> TaskRequest {
        var fields = ["\"id\":\"\(id)\"", "\"title\":\"T\"", "\"lease_s\":3600"]
        if let owner { fields.append("\"owner\":\"\(owner)\"") }
        return .operation(.create(try TaskValidation.create(Hub.body("{\(fields.joined(separator: ","))}"))))
    }

    static func accepted(_ hub: TaskHub, _ requests: [TaskRequest], sourceLocation: SourceLocation = #_sourceLocation) async {
        for reply in Hub.replies(await hub.handle(requests)) {
            if case .failure(let error) = reply { Issue.record("refused: \(error)", sourceLocation: sourceLocation) }
        }
    }

    /// Creates and starts `id` at `start`, then finishes it `ms` later as `outcome` (a failure
    /// with `code`, a cancel confirmed by the worker).
    static func run(_ hub: TaskHub, _ clock: Hub.Clock, _ id: String, owner: String? = "alice", _ outcome: TaskStatus = .succeeded,
                    start: Int64, ms: Int64, code: String = "boom") async throws {
        clock.now = start
        await accepted(hub, [try create(id, owner: owner), .operation(.start(id: id))])
        clock.now = start + ms
        switch outcome {
        case .succeeded: await accepted(hub, [.operation(.complete(id: id, message: nil, result: nil))])
        case .failed: await accepted(hub, [.operation(.fail(id: id, TaskFailure(code: code, message: "m")))])
        case .cancelled: await accepted(hub, [.operation(.cancel(id: id)), .operation(.confirmCancelled(id: id))])
        default: Issue.record("not an outcome: \(outcome)")
        }
    }

    static func stats(_ hub: TaskHub, _ request: TaskRequest) async throws -> JSONObject {
        guard case .statistics(let json) = Hub.replies(await hub.handle([request]))[0] else {
            Issue.record("no statistics reply")
            return JSONObject()
        }
        return try Hub.json(json)
    }

    static func stats(_ hub: TaskHub, owner: String? = nil, window: Double = 3_600) async throws -> JSONObject {
        try await stats(hub, .statistics(owner: owner, windowSeconds: window))
    }

    static func text(_ value: JSONValue?) -> String {
        value.map { JSONWriter.encodeString($0) } ?? "absent"
    }

    // MARK: The figures

    @Test func percentilesAreNearestRankOverTheSucceededTasksDurations() async throws {
        let (hub, clock) = Hub.make()
        // Ten successes of 1…10 s (plus 234 ms on the slowest), one failure of 500 s: only successes count.
        for k in 1...10 {
            try await Self.run(hub, clock, "s\(k)", start: Self.base + Int64(k) * 100_000, ms: Int64(k) * 1_000 + (k == 10 ? 234 : 0))
        }
        try await Self.run(hub, clock, "f", .failed, start: Self.base + 1_100_000, ms: 500_000)
        let s = try await Self.stats(hub)
        // nearest rank: p50 = the 5th of 10, p90 = the 9th, p99 = ⌈9.9⌉ = the 10th
        #expect(Self.text(s["duration_s"]) == #"{"p50":5,"p90":9,"p99":10.234,"max":10.234}"#)
    }

    @Test func nearestRankPicksTheCeilingRank() {
        let sorted: [Int64] = Array(1...200)
        #expect(TaskStatistics.nearestRank(sorted, percent: 50) == 100)
        #expect(TaskStatistics.nearestRank(sorted, percent: 99) == 198)
        #expect(TaskStatistics.nearestRank([7], percent: 50) == 7)
        #expect(TaskStatistics.nearestRank([7], percent: 99) == 7)
        #expect(TaskStatistics.nearestRank([1, 2, 3], percent: 50) == 2)  // ⌈1.5⌉
        #expect(TaskStatistics.nearestRank([], percent: 50) == nil)
    }

    @Test func countsRateAndErrorsOfTheFinishedTasks() async throws {
        let (hub, clock) = Hub.make()
        var at = Self.base
        func next() -> Int64 { at += 10_000; return at }
        for id in ["s1", "s2", "s3"] { try await Self.run(hub, clock, id, start: next(), ms: 1_000) }
        for (id, code) in [("f1", "io"), ("f2", "disk"), ("f3", "io"), ("f4", "disk"), ("f5", "auth")] {
            try await Self.run(hub, clock, id, .failed, start: next(), ms: 1_000, code: code)
        }
        try await Self.run(hub, clock, "c1", .cancelled, start: next(), ms: 1_000)
        clock.now = next()
        await Self.accepted(hub, [try Self.create("c2", owner: "alice"), .operation(.cancel(id: "c2")),  // cancelled while queued
                                  try Self.create("q", owner: "alice"), try Self.create("r", owner: "alice"), .operation(.start(id: "r"))])
        let s = try await Self.stats(hub)
        #expect(s["finished"]?.intValue == 10 && s["succeeded"]?.intValue == 3 && s["failed"]?.intValue == 5 && s["cancelled"]?.intValue == 2)
        #expect(s["success_rate"]?.numberValue == 0.3)
        // by count, then by code
        #expect(Self.text(s["errors"]) == #"[{"code":"disk","count":2},{"code":"io","count":2},{"code":"auth","count":1}]"#)
        #expect(Self.text(s["counts"]) == #"{"queued":1,"running":1,"succeeded":3,"failed":5,"cancelling":0,"cancelled":2}"#)
        #expect(s["window_s"]?.numberValue == 3_600 && s["owner"]?.isNull == true)
        #expect(s["at"]?.stringValue == RFC3339.format(millisecondsSince1970: clock.now))
    }

    @Test func nothingFinishedGivesNullRateAndDurationsAndEmptyLists() async throws {
        let (hub, _) = Hub.make()
        await Self.accepted(hub, [try Self.create("q", owner: "alice")])
        let s = try await Self.stats(hub, window: 0.5)
        #expect(s["finished"]?.intValue == 0 && s["success_rate"]?.isNull == true && s["duration_s"]?.isNull == true)
        #expect(Self.text(s["errors"]) == "[]" && Self.text(s["timeline"]) == "[]")
        #expect(s["window_s"]?.numberValue == 0.5 && s["counts"]?["queued"]?.intValue == 1)
    }

    @Test func onlyFailuresGiveARateOfZeroAndNoDurations() async throws {
        let (hub, clock) = Hub.make()
        try await Self.run(hub, clock, "f", .failed, start: Self.base, ms: 1_000)
        let s = try await Self.stats(hub)
        #expect(s["success_rate"]?.numberValue == 0 && s["duration_s"]?.isNull == true)
    }

    @Test func theTimelineHasOneEntryPerMinuteWithFinishesOldestFirst() async throws {
        let (hub, clock) = Hub.make()
        let m = Int64(60_000)
        try await Self.run(hub, clock, "a", start: Self.base, ms: 500)                      // 08:00:00.5
        try await Self.run(hub, clock, "b", .failed, start: Self.base + m - 2, ms: 1)        // 08:00:59.999
        try await Self.run(hub, clock, "c", .cancelled, start: Self.base + m - 1, ms: 1)     // 08:01:00.000
        try await Self.run(hub, clock, "d", start: Self.base + 3 * m + 5, ms: 10)            // 08:03 (08:02 had none)
        clock.now = Self.base + 4 * m
        let s = try await Self.stats(hub)
        #expect(Self.text(s["timeline"]) == #"[{"t":"2027-01-15T08:00:00Z","succeeded":1,"failed":1,"cancelled":0},"#
            + #"{"t":"2027-01-15T08:01:00Z","succeeded":0,"failed":0,"cancelled":1},"#
            + #"{"t":"2027-01-15T08:03:00Z","succeeded":1,"failed":0,"cancelled":0}]"#)
    }

    @Test func minutesAreFlooredAlsoBefore1970() {
        #expect(TaskStatistics.minute(of: 119_999) == 60_000)
        #expect(TaskStatistics.minute(of: -1) == -60_000)
        #expect(TaskStatistics.minuteText(Self.base) == "2027-01-15T08:00:00Z")
        #expect(TaskStatistics.minuteText(-60_000) == "1969-12-31T23:59:00Z")
        #expect(TaskStatistics.minuteText(0) == "1970-01-01T00:00:00Z")
        #expect(TaskStatistics.minuteText(Self.base + 15 * 3_600_000 + 59 * 60_000) == "2027-01-15T23:59:00Z")
    }

    @Test func theTimelineCrossesMidnight() async throws {
        let (hub, clock) = Hub.make()
        let midnight = Self.base + 16 * 3_600_000  // 2027-01-16T00:00:00Z
        try await Self.run(hub, clock, "a", start: midnight - 2_000, ms: 1_000)
        try await Self.run(hub, clock, "b", start: midnight, ms: 61_000)
        let s = try await Self.stats(hub)
        #expect(Self.text(s["timeline"]) == #"[{"t":"2027-01-15T23:59:00Z","succeeded":1,"failed":0,"cancelled":0},"#
            + #"{"t":"2027-01-16T00:01:00Z","succeeded":1,"failed":0,"cancelled":0}]"#)
    }

    // MARK: The window

    @Test func aTaskFinishedExactlyAWindowAgoCountsAndOneMillisecondEarlierDoesNot() async throws {
        let (hub, clock) = Hub.make()
        try await Self.run(hub, clock, "old", .failed, start: Self.base, ms: 1_000, code: "old")
        try await Self.run(hub, clock, "new", start: Self.base + 1, ms: 1_000)
        let newFinish = Self.base + 1_001
        clock.now = newFinish + 60_000  // "old" finished 60.001 s ago, "new" exactly 60 s ago
        let s = try await Self.stats(hub, window: 60)
        #expect(s["finished"]?.intValue == 1 && s["succeeded"]?.intValue == 1 && Self.text(s["errors"]) == "[]")
        clock.now += 1
        let later = try await Self.stats(hub, window: 60)
        #expect(later["finished"]?.intValue == 0)
        #expect(later["counts"]?["succeeded"]?.intValue == 1 && later["counts"]?["failed"]?.intValue == 1)  // still held
        #expect(try await Self.stats(hub, window: 60.001)["finished"]?.intValue == 1)  // decimal seconds, to the ms
    }

    @Test func windowMillisecondsRoundToTheNearestAndAreAtLeastOne() {
        #expect(TaskStatsQuery.milliseconds(1.1) == 1_100)
        #expect(TaskStatsQuery.milliseconds(0.0001) == 1)
        #expect(TaskStatsQuery.milliseconds(TaskStatsQuery.maxWindowSeconds) == 2_592_000_000)
    }

    @Test func retriedDeletedAndRefinishedTasksCountOnceAtTheirCurrentState() async throws {
        let (hub, clock) = Hub.make()
        try await Self.run(hub, clock, "again", .failed, start: Self.base, ms: 1_000, code: "first")
        try await Self.run(hub, clock, "gone", .failed, start: Self.base + 2_000, ms: 1_000, code: "gone")
        try await Self.run(hub, clock, "pending", .cancelled, start: Self.base + 4_000, ms: 1_000)
        clock.now = Self.base + 10_000
        await Self.accepted(hub, [.operation(.retry(id: "again")), .operation(.start(id: "again")), .operation(.delete(id: "gone")),
                                  .operation(.retry(id: "pending"))])
        clock.now = Self.base + 12_000
        await Self.accepted(hub, [.operation(.complete(id: "again", message: nil, result: nil))])
        let s = try await Self.stats(hub)
        #expect(s["finished"]?.intValue == 1 && s["succeeded"]?.intValue == 1 && Self.text(s["errors"]) == "[]")
        #expect(Self.text(s["duration_s"]) == #"{"p50":2,"p90":2,"p99":2,"max":2}"#)  // the last attempt's
        #expect(Self.text(s["counts"]) == #"{"queued":1,"running":0,"succeeded":1,"failed":0,"cancelling":0,"cancelled":0}"#)
    }

    // MARK: Owners and scope

    static func twoOwners() async throws -> (TaskHub, Hub.Clock) {
        let (hub, clock) = Hub.make()
        try await run(hub, clock, "a1", owner: "alice", start: base, ms: 2_000)
        try await run(hub, clock, "b1", owner: "bob", .failed, start: base + 10_000, ms: 1_000, code: "bob_secret")
        try await run(hub, clock, "b2", owner: "bob", start: base + 20_000, ms: 9_000)
        try await run(hub, clock, "n1", owner: nil, .cancelled, start: base + 40_000, ms: 1_000)
        clock.now = base + 50_000
        await accepted(hub, [try create("a2", owner: "alice")])
        return (hub, clock)
    }

    @Test func anOwnersStatisticsCoverOnlyItsTasksAndNoOwnerMeansAll() async throws {
        let (hub, _) = try await Self.twoOwners()
        let alice = try await Self.stats(hub, owner: "alice")
        #expect(alice["finished"]?.intValue == 1 && alice["owner"]?.stringValue == "alice")
        #expect(Self.text(alice["counts"]) == #"{"queued":1,"running":0,"succeeded":1,"failed":0,"cancelling":0,"cancelled":0}"#)
        let all = try await Self.stats(hub)
        #expect(all["finished"]?.intValue == 4 && all["succeeded"]?.intValue == 2 && all["cancelled"]?.intValue == 1)
        #expect(Self.text(all["duration_s"]) == #"{"p50":2,"p90":9,"p99":9,"max":9}"#)
        #expect(Self.text(all["counts"]) == #"{"queued":1,"running":0,"succeeded":2,"failed":1,"cancelling":0,"cancelled":1}"#)
        let nobody = try await Self.stats(hub, owner: "carol")
        #expect(nobody["finished"]?.intValue == 0 && Self.text(nobody["counts"]) == #"{"queued":0,"running":0,"succeeded":0,"failed":0,"cancelling":0,"cancelled":0}"#)
    }

    @Test func aScopedRequestGetsItsOwnersStatisticsWhateverOwnerItNames() async throws {
        let (hub, _) = try await Self.twoOwners()
        let asked = [try await Self.stats(hub, .scoped(owner: "alice", .statistics(owner: "bob", windowSeconds: 3_600))),
                     try await Self.stats(hub, .scoped(owner: "alice", .statistics(owner: nil, windowSeconds: 3_600)))]
        let own = try await Self.stats(hub, owner: "alice")
        for s in asked {
            #expect(s["owner"]?.stringValue == "alice")
            #expect(Self.text(s["counts"]) == Self.text(own["counts"]) && Self.text(s["timeline"]) == Self.text(own["timeline"]))
            #expect(Self.text(s["errors"]) == "[]" && s["failed"]?.intValue == 0 && s["finished"]?.intValue == 1)
            #expect(!Self.text(.object(s)).contains("bob"))
        }
    }

    /// The two ways of finding an owner's finishes (the walk back over every owner's, and the
    /// owner's own tasks) agree, over owners with few and many tasks, retries, deletes and
    /// finishes on both sides of the window.
    @Test func walkingAndTheOwnersTasksFindTheSameFinishes() async throws {
        let (hub, clock) = Hub.make()
        var rng = FeedSplits.SeededGenerator(seed: 7)
        let owners = ["big", "small", "other"]
        var at = Self.base
        for i in 0..<300 {
            at += Int64(rng.next() % 20_000)
            let owner = rng.next() % 4 == 0 ? (rng.next() % 2 == 0 ? "small" : "other") : "big"
            let outcome: TaskStatus = [.succeeded, .failed, .cancelled][Int(rng.next() % 3)]
            try await Self.run(hub, clock, "t\(i)", owner: owner, outcome, start: at, ms: Int64(rng.next() % 9_000), code: "c\(rng.next() % 5)")
            at = clock.now
            if i % 17 == 0 { _ = await hub.handle([.operation(.delete(id: "t\(i / 2)"))]) }  // refused if it was retried
            if i % 13 == 0, outcome != .succeeded { await Self.accepted(hub, [.operation(.retry(id: "t\(i)"))]) }
        }
        for window: Int64 in [1, 60_000, 600_000, 3_600_000, 100_000_000] {
            let cutoff = clock.now - window
            for owner in owners {
                let walked = try #require(await hub.finishesByWalking(since: cutoff, owner: owner, budget: nil))
                let own = await hub.finishesOfOwner(owner, since: cutoff)
                #expect(walked.json(windowSeconds: 1, owner: owner, now: 0, counts: [:]) == own.json(windowSeconds: 1, owner: owner, now: 0, counts: [:]),
                        "\(owner), \(window) ms")
            }
        }
        // A budget below the walk's length gives up; the owner's tasks answer instead.
        #expect(await hub.finishesByWalking(since: clock.now - 100_000_000, owner: "small", budget: 3) == nil)
    }

    @Test func metricsStatsStayAdminOnlyWhenScoped() async throws {
        let (hub, _) = try await Self.twoOwners()
        guard case .failure(let error) = Hub.replies(await hub.handle([.scoped(owner: "alice", .stats)]))[0] else {
            Issue.record("scoped .stats answered")
            return
        }
        #expect(error.status == 403)
    }

    // MARK: Errors list bound

    /// `c000`, `c001`, …: codes that sort as their numbers.
    static func code(_ i: Int) -> String {
        let digits = String(i)
        return "c" + String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }

    @Test func errorsListTheMostFrequentCodesUpToTheLimit() async throws {
        var figures = TaskStatistics()
        func failed(_ code: String) -> TaskRecord {
            var task = TaskRecord(id: "x", title: "T", owner: nil, total: nil, leaseSeconds: 30, expireSeconds: 300, meta: JSONObject(), now: 0)
            task.status = .failed
            task.finishedAt = 1
            task.error = TaskFailure(code: code, message: "")
            return task
        }
        for i in 0..<TaskStatistics.maxErrorCodes { figures.add(failed(Self.code(i))) }
        #expect(figures.topErrors.count == TaskStatistics.maxErrorCodes)
        figures.add(failed("zz"))
        figures.add(failed("zz"))  // the most frequent comes first, and one code past the limit is left out
        #expect(figures.topErrors.count == TaskStatistics.maxErrorCodes)
        #expect(figures.topErrors.first?.code == "zz" && figures.topErrors.first?.count == 2)
        #expect(figures.topErrors.last?.code == Self.code(TaskStatistics.maxErrorCodes - 2))
        #expect(figures.failed == TaskStatistics.maxErrorCodes + 2)
    }

    // MARK: Duration histograms

    @Test func histogramsObserveStartedTasksByOutcomeAndNotQueuedCancels() async throws {
        let (hub, clock) = Hub.make()
        try await Self.run(hub, clock, "s1", start: Self.base, ms: 100)        // le 0.1 (inclusive)
        try await Self.run(hub, clock, "s2", start: Self.base + 1_000, ms: 101)  // le 0.5
        try await Self.run(hub, clock, "s3", start: Self.base + 2_000, ms: 4_000_000)  // +Inf
        try await Self.run(hub, clock, "f1", .failed, start: Self.base + 10_000_000, ms: 7_000)
        try await Self.run(hub, clock, "c1", .cancelled, start: Self.base + 20_000_000, ms: 30_000)
        await Self.accepted(hub, [try Self.create("c2", owner: nil), .operation(.cancel(id: "c2"))])
        let durations = await hub.stats.durations
        #expect(durations[.succeeded].bucketCounts == [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        #expect(durations[.succeeded].cumulativeCounts == [1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3])
        #expect(durations[.succeeded].sumMilliseconds == 4_000_201 && durations[.succeeded].count == 3)
        #expect(durations[.failed].bucketCounts == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
        #expect(durations[.cancelled].count == 1 && durations[.cancelled].bucketCounts[5] == 1)  // 30 s: le 30, not the queued cancel
    }

    @Test func eachBucketTakesItsBoundAndTheNextMillisecondGoesUp() {
        for (i, bound) in TaskDurationHistogram.bucketBoundsMilliseconds.enumerated() {
            var histogram = TaskDurationHistogram()
            histogram.observe(milliseconds: bound)
            histogram.observe(milliseconds: bound + 1)
            #expect(histogram.bucketCounts[i] == 1 && histogram.bucketCounts[i + 1] == 1)
        }
        var clockStepped = TaskDurationHistogram()
        clockStepped.observe(milliseconds: -5)
        #expect(clockStepped.bucketCounts[0] == 1 && clockStepped.sumMilliseconds == 0)
    }

    @Test func histogramsStartFromZeroWhenTheAuthorityRestarts() async throws {
        let store = MemoryTaskStore()
        let clock = Hub.Clock()
        let first = TaskHub(store: store, clock: { clock.now })
        _ = try await first.restore()
        try await Self.run(first, clock, "s", start: Self.base, ms: 1_000)
        #expect(await first.stats.durations[.succeeded].count == 1)
        try await first.shutdown()
        let second = TaskHub(store: store, clock: { clock.now })
        _ = try await second.restore()
        #expect(await second.stats.durations == TaskDurationHistograms())
    }
}
