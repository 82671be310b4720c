import HeraldWire
import Testing
@testable import HeraldTasks

/// The whole transition table of the contract: every operation from every status.
@Suite struct TaskTransitionTests {
    static let now: Int64 = 1_800_000_000_000

    static func task(in status: TaskStatus) -> TaskRecord {
        var t = TaskRecord(id: "t", title: "T", owner: nil, total: 100, leaseSeconds: 30, expireSeconds: 300, meta: JSONObject(), now: now)
        switch status {
        case .queued: break
        case .running: _ = try! t.start(now: now)
        case .succeeded: _ = try! t.start(now: now); _ = try! t.complete(message: nil, result: nil, now: now)
        case .failed: _ = try! t.start(now: now); _ = try! t.fail(TaskFailure(code: "x", message: ""), now: now)
        case .cancelling: _ = try! t.start(now: now); _ = try! t.cancel(now: now)
        case .cancelled: _ = try! t.cancel(now: now)
        }
        #expect(t.status == status)
        return t
    }

    enum Op: String, CaseIterable {
        case start, progress, heartbeat, complete, fail, cancel, cancelled, retry
    }

    static func apply(_ op: Op, to t: inout TaskRecord) throws(TaskError) -> TaskEventName? {
        switch op {
        case .start: return try t.start(now: now + 1)
        case .progress: return try t.report(ProgressInput(done: 10), now: now + 1)
        case .heartbeat: return try t.heartbeat(now: now + 1)
        case .complete: return try t.complete(message: nil, result: nil, now: now + 1)
        case .fail: return try t.fail(TaskFailure(code: "boom", message: "m"), now: now + 1)
        case .cancel: return try t.cancel(now: now + 1)
        case .cancelled: return try t.confirmCancelled(now: now + 1)
        case .retry: return try t.retry(now: now + 1)
        }
    }

    /// (from, operation) → (to, event); everything absent is 409 invalid_transition.
    static let allowed: [String: (TaskStatus, TaskEventName?)] = [
        "queued.start": (.running, .started),
        "queued.cancel": (.cancelled, .cancelled),
        "running.progress": (.running, .progress),
        "running.heartbeat": (.running, nil),
        "running.complete": (.succeeded, .succeeded),
        "running.fail": (.failed, .failed),
        "running.cancel": (.cancelling, .cancelling),
        "cancelling.progress": (.cancelling, .progress),
        "cancelling.heartbeat": (.cancelling, nil),
        "cancelling.fail": (.failed, .failed),
        "cancelling.cancelled": (.cancelled, .cancelled),
        "failed.retry": (.queued, .retried),
        "cancelled.retry": (.queued, .retried),
    ]

    @Test(arguments: TaskStatus.allCases)
    func everyOperationFromEveryStatusFollowsTheTable(_ from: TaskStatus) {
        for op in Op.allCases {
            var t = Self.task(in: from)
            let before = t
            let key = "\(from.rawValue).\(op.rawValue)"
            do {
                let event = try Self.apply(op, to: &t)
                guard let expected = Self.allowed[key] else {
                    Issue.record("\(key) was allowed but the contract refuses it")
                    continue
                }
                #expect(t.status == expected.0, "\(key)")
                #expect(event == expected.1, "\(key)")
            } catch {
                #expect(Self.allowed[key] == nil, "\(key) was refused: \(error)")
                #expect(error.status == 409 && error.code == "invalid_transition", "\(key)")
                #expect(t == before, "\(key) changed the task although it was refused")
            }
        }
    }

    @Test func terminalTasksRefuseLateProgressAndKeepTheirState() {
        for status in [TaskStatus.succeeded, .failed, .cancelled] {
            var t = Self.task(in: status)
            let before = t
            #expect(throws: TaskError.self) { try t.report(ProgressInput(done: 99), now: Self.now + 5) }
            #expect(t == before)
        }
    }

    @Test func doneNeverDecreasesWithinAnAttempt() throws {
        var t = Self.task(in: .running)
        _ = try t.report(ProgressInput(done: 50), now: Self.now + 1000)
        do {
            _ = try t.report(ProgressInput(done: 49), now: Self.now + 2000)
            Issue.record("a lower done was accepted")
        } catch {
            #expect(error.status == 409 && error.code == "done_decreased")
        }
        #expect(t.done == 50)
        _ = try t.report(ProgressInput(done: 50, message: "same done is fine"), now: Self.now + 3000)
    }

    @Test func retryStartsANewAttemptFromZero() throws {
        var t = Self.task(in: .running)
        _ = try t.report(ProgressInput(done: 70), now: Self.now + 1000)
        _ = try t.fail(TaskFailure(code: "io", message: "disk"), now: Self.now + 2000)
        _ = try t.retry(now: Self.now + 3000)
        #expect(t.status == .queued && t.attempt == 2 && t.done == 0 && t.error == nil && t.result == nil)
        #expect(t.startedAt == nil && t.finishedAt == nil && t.rate == nil && t.etaSeconds == nil)
        _ = try t.start(now: Self.now + 4000)
        _ = try t.report(ProgressInput(done: 5), now: Self.now + 5000)  // lower than attempt 1's 70: fine
    }

    @Test func percentComesFromDoneAndTotalOrIsSetDirectlyWithoutTotal() throws {
        var t = Self.task(in: .running)
        _ = try t.report(ProgressInput(done: 25, percent: 90), now: Self.now + 1)
        #expect(t.percent == 25)  // total is known: percent given directly is ignored
        var u = TaskRecord(id: "u", title: "U", owner: nil, total: nil, leaseSeconds: 30, expireSeconds: 300, meta: JSONObject(), now: Self.now)
        _ = try u.start(now: Self.now)
        #expect(u.percent == nil)
        _ = try u.report(ProgressInput(percent: 40), now: Self.now + 1)
        #expect(u.percent == 40)
        _ = try u.report(ProgressInput(done: 500, total: .some(1000)), now: Self.now + 2)
        #expect(u.percent == 50)
    }

    @Test func rateIsSmoothedAndGivesAnETA() throws {
        var t = Self.task(in: .running)  // total 100
        for i in 1...10 {
            _ = try t.report(ProgressInput(done: Double(i * 5)), now: Self.now + Int64(i) * 1000)  // 5 units/s
        }
        let rate = try #require(t.rate)
        #expect(abs(rate - 5) < 0.01)
        let eta = try #require(t.etaSeconds)
        #expect(abs(eta - 10) < 0.1)  // 50 left at 5/s
    }

    @Test func aQuickFirstReportDoesNotDominateTheRate() throws {
        var t = Self.task(in: .running)  // started at `now` with done 0, total 100
        t.total = 1000
        _ = try t.report(ProgressInput(done: 420), now: Self.now + 20)  // 20 ms in: too short to trust
        #expect(t.rate == nil)
        _ = try t.report(ProgressInput(done: 700), now: Self.now + 2520)
        let rate = try #require(t.rate)
        #expect(abs(rate - 700 / 2.52) < 0.5)  // the average since start, not 21,000/s
        #expect(abs(try #require(t.etaSeconds) - 300 / rate) < 0.01)
    }

    @Test func rateFollowsTheLastThirtySeconds() throws {
        var t = Self.task(in: .running)
        t.total = 100_000
        for s in 1...60 { _ = try t.report(ProgressInput(done: Double(s * 10)), now: Self.now + Int64(s) * 1000) }  // 10/s
        for s in 61...120 { _ = try t.report(ProgressInput(done: 600 + Double((s - 60) * 100)), now: Self.now + Int64(s) * 1000) }  // 100/s
        #expect(abs(try #require(t.rate) - 100) < 0.01)
    }

    @Test func manyReportsASecondKeepTheSamplesBounded() throws {
        var t = Self.task(in: .running)
        t.total = 1_000_000
        for ms in 1...60_000 { _ = try t.report(ProgressInput(done: Double(ms)), now: Self.now + Int64(ms)) }  // 1,000/s
        #expect(t.rateSamples.count <= 125)
        #expect(abs(try #require(t.rate) - 1000) < 1)
    }

    @Test func staleThenHeartbeatClearsItWithAProgressEvent() throws {
        var t = Self.task(in: .running)
        #expect(t.markStale(now: Self.now + 31_000) == .stale)
        #expect(t.stale)
        #expect(try t.heartbeat(now: Self.now + 32_000) == .progress)
        #expect(!t.stale)
        #expect(try t.heartbeat(now: Self.now + 33_000) == nil)  // plain heartbeats push nothing
    }

    @Test func expiryFailsWithLeaseExpired() {
        var t = Self.task(in: .running)
        #expect(t.expire(now: Self.now + 300_000) == .failed)
        #expect(t.status == .failed && t.error?.code == "lease_expired")
    }

    @Test func encodedTaskHasEveryContractFieldAndDecodesBack() throws {
        var t = Self.task(in: .running)
        t.owner = "alice"
        t.meta["k"] = .string("v")
        _ = try t.report(ProgressInput(done: 40, message: "copying \"x\""), now: Self.now + 1500)
        t.seq = 42
        let value = try JSONParser.parse(t.json)
        let object = try #require(value.objectValue)
        let fields = ["id", "title", "owner", "status", "stale", "done", "total", "percent", "message", "rate", "eta_s", "error",
                      "result", "attempt", "lease_s", "created_at", "updated_at", "started_at", "finished_at", "heartbeat_at", "meta", "seq"]
        for field in fields { #expect(object[field] != nil, "missing \(field)") }
        #expect(object["created_at"]?.stringValue == "2027-01-15T08:00:00.000Z")
        let back = try #require(TaskRecord.decode(value))
        #expect(back.id == t.id && back.status == t.status && back.done == t.done && back.owner == "alice" && back.seq == 42)
        #expect(back.meta == t.meta && back.message == t.message && back.heartbeatAt == t.heartbeatAt)
    }
}
