import Testing
@testable import HeraldClient

/// `herald watch`'s countdown to a running task's deadline, and the failure reason after it.
@Suite struct WatchDeadlineTests {
    static let started = "2026-11-23T20:10:00.000Z"
    static let startMs = Timestamp.milliseconds(started)!

    static func running(timeout: Double? = nil, stall: Double? = nil, progressAt: String? = nil, status: String = "running") -> WatchTask {
        WatchTask(id: "dl-1", title: "Download", status: status, done: 3, total: 10, percent: 30, createdAt: started,
                  startedAt: started, seq: 5, timeoutSeconds: timeout, stallSeconds: stall, progressAt: progressAt)
    }

    @Test func timeoutCountsFromTheStart() {
        let deadline = Self.running(timeout: 3_600).nextDeadline
        #expect(deadline == WatchDeadline(kind: .timeout, at: Self.startMs + 3_600_000))
        #expect(deadline?.text(now: Self.startMs + 48 * 60_000) == "times out in 12m00s")
    }

    @Test func stallCountsFromTheLastProgressAndTheNearerDeadlineIsShown() {
        let task = Self.running(timeout: 3_600, stall: 60, progressAt: "2026-11-23T20:10:10.000Z")
        #expect(task.nextDeadline == WatchDeadline(kind: .stall, at: Self.startMs + 70_000))
        #expect(task.nextDeadline?.text(now: Self.startMs + 30_000) == "stalls in 40s")
        #expect(Self.running(stall: 60).nextDeadline?.at == Self.startMs + 60_000)  // no progress yet: from the start
    }

    @Test func aCancellingTaskTimesOutButDoesNotStallAndOthersHaveNoDeadline() {
        let cancelling = Self.running(timeout: 600, stall: 5, status: "cancelling")
        #expect(cancelling.nextDeadline?.kind == .timeout)
        for status in ["queued", "succeeded", "failed", "cancelled"] {
            #expect(Self.running(timeout: 600, stall: 5, status: status).nextDeadline == nil, "\(status)")
        }
        #expect(Self.running().nextDeadline == nil)
    }

    @Test func aDueDeadlineShowsZeroUntilTheFailureArrives() {
        #expect(Self.running(stall: 1).nextDeadline?.text(now: Self.startMs + 5_000) == "stalls in 0s")
    }

    @Test func aRunningRowShowsTheCountdownAfterTheETA() {
        var task = Self.running(timeout: 3_600)
        task.etaSeconds = 45
        let r = WatchRenderer(width: 120, now: Self.startMs + 48 * 60_000)
        #expect(r.taskLine(task)
            == "dl-1 Download                  running    ██████░░░░░░░░░░░░░░  30.0%  3/10  ETA 45s  times out in 12m00s")
        // Without a clock (the existing tests, --plain) nothing is counted down.
        #expect(!WatchRenderer(width: 120).taskLine(task).contains("times out"))
    }

    @Test func rowsWithAndWithoutADeadlineKeepTheirBarsAligned() {
        var state = WatchState(topics: ["tasks"])
        _ = state.apply(.snapshot(topic: "tasks", epoch: "e", seq: 5, recovered: true, counts: ["running": 2],
                                  tasks: [Self.running(timeout: 3_600), WatchTask(id: "plain", status: "running", percent: 50,
                                                                                 createdAt: "2026-11-23T20:09:00.000Z", startedAt: Self.started)]))
        let lines = WatchRenderer(width: 100, now: Self.startMs + 60_000).frame(state: state, title: "t", connection: "c", connected: true)
        let bars = lines.dropFirst(2).map { line in line.filter { $0 == "█" || $0 == "░" || "▏▎▍▌▋▊▉".contains($0) }.count }
        #expect(bars.count == 2 && bars[0] == bars[1], "\(lines)")
        #expect(lines.contains { $0.hasSuffix("times out in 59m00s") })
    }

    @Test func aCountdownUnderAMinuteIsPaintedYellow() {
        let r = WatchRenderer(width: 120, color: true, now: Self.startMs + 30_000)
        #expect(r.taskLine(Self.running(stall: 60)).contains("\u{1B}[33mstalls in 30s\u{1B}[0m"))
        let calm = WatchRenderer(width: 120, color: true, now: Self.startMs)
        #expect(calm.taskLine(Self.running(stall: 120)).contains("  stalls in 2m00s"))
    }

    @Test func aTimedOutOrStalledTaskShowsItsReason() {
        for (code, message) in [("timeout", "not finished 3600 s after it started (timeout_s 3600)"),
                                ("stalled", "no change of done, percent or message for 300 s (stall_s 300)")] {
            var task = Self.running(timeout: 3_600, stall: 300, status: "failed")
            task.errorCode = code
            task.errorMessage = message
            task.finishedAt = "2026-11-23T21:10:00.000Z"
            let line = WatchRenderer(width: 200, now: Self.startMs + 3_600_000).taskLine(task)
            #expect(line.hasSuffix("30.0%  3/10  \(code)  in 1h00m  \(message)"), "\(line)")
            #expect(!line.contains(" in 0s"))
            #expect(WatchEventLine.taskLine(seq: 9, event: "failed", task: task)
                == "seq=9 task=dl-1 event=failed status=failed 30.0% 3/10 error=\(code) \"\(message)\"")
        }
    }

    @Test func theTaskObjectsDeadlineFieldsAreRead() throws {
        let frame = #"{"type":"task","topic":"tasks","seq":5,"event":"progress","task":{"id":"a","status":"running","timeout_s":60,"stall_s":null,"progress_at":"2026-11-23T20:10:10.000Z"}}"#
        guard case .task(_, _, _, let task) = try #require(WatchEvent.decode(frame)) else { Issue.record("not a task event"); return }
        #expect(task.timeoutSeconds == 60 && task.stallSeconds == nil && task.progressAt == "2026-11-23T20:10:10.000Z")
    }
}
