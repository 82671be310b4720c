import HeraldStore
import HeraldWire
import Testing
@testable import HeraldTasks

/// `--owner-max-active` and `--owner-max-rate` in the actor, with a mock clock: at the limit
/// and one past it, the Retry-After values, and that a refusal changes nothing.
@Suite struct TaskHubLimitsTests {
    typealias Hub = TaskHubTests

    static func create(_ id: String, owner: String? = nil, total: Double? = nil) throws -> TaskRequest {
        var fields = ["\"id\":\"\(id)\"", "\"title\":\"T\"", "\"lease_s\":3600"]
        if let owner { fields.append("\"owner\":\"\(owner)\"") }
        if let total { fields.append("\"total\":\(total)") }
        return .operation(.create(try TaskValidation.create(Hub.body("{\(fields.joined(separator: ","))}"))))
    }

    static func progress(_ id: String, done: Double) throws -> TaskRequest {
        .operation(.progress(id: id, try TaskValidation.progress(Hub.body("{\"done\":\(done)}"))))
    }

    /// The one reply of a one-request batch, as a refusal (nil when it was not one).
    static func refusal(_ hub: TaskHub, _ request: TaskRequest) async -> TaskError? {
        let out = await hub.handle([request])
        guard case .failure(let error) = Hub.replies(out).first else { return nil }
        return error
    }

    static func accepted(_ hub: TaskHub, _ requests: [TaskRequest], sourceLocation: SourceLocation = #_sourceLocation) async {
        let out = await hub.handle(requests)
        for reply in Hub.replies(out) {
            if case .failure(let error) = reply { Issue.record("refused: \(error)", sourceLocation: sourceLocation) }
        }
    }

    /// A refusal publishes nothing, uses no seq and leaves no task behind.
    static func expectRefusedWithoutChange(_ hub: TaskHub, _ request: TaskRequest, code: String, retryAfter: Int,
                                           sourceLocation: SourceLocation = #_sourceLocation) async {
        let seq = await hub.seq
        let count = await hub.stats.taskCount
        let out = await hub.handle([request])
        #expect(Hub.events(out).isEmpty, sourceLocation: sourceLocation)
        guard case .failure(let error) = Hub.replies(out).first else {
            Issue.record("accepted", sourceLocation: sourceLocation)
            return
        }
        #expect(error.status == 429 && error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.retryAfterSeconds == retryAfter, "\(error)", sourceLocation: sourceLocation)
        #expect(await hub.seq == seq, sourceLocation: sourceLocation)
        #expect(await hub.stats.taskCount == count, sourceLocation: sourceLocation)
    }

    // MARK: --owner-max-active

    @Test func theCreateOnePastTheActiveLimitIsRefusedAndLeavesNoTask() async throws {
        let (hub, _) = Hub.make { $0.ownerMaxActive = 2 }
        await Self.accepted(hub, [try Self.create("a", owner: "bob"), try Self.create("b", owner: "bob")])
        // Only queued tasks: none has an ETA, so the documented default.
        await Self.expectRefusedWithoutChange(hub, try Self.create("c", owner: "bob"), code: "too_many_active",
                                              retryAfter: OwnerLimits.defaultActiveRetryAfterSeconds)
        guard case .failure(let missing) = Hub.replies(await hub.handle([.get(id: "c")]))[0] else {
            Issue.record("the refused task exists")
            return
        }
        #expect(missing.code == "not_found")
        await Self.accepted(hub, [try Self.create("c", owner: "alice")])  // another owner has its own count
    }

    @Test func tasksWithoutOwnerCountTogetherAsOneOwner() async throws {
        let (hub, _) = Hub.make { $0.ownerMaxActive = 1 }
        await Self.accepted(hub, [try Self.create("a")])
        await Self.expectRefusedWithoutChange(hub, try Self.create("b"), code: "too_many_active", retryAfter: 5)
        await Self.accepted(hub, [try Self.create("b", owner: "bob")])
        let error = await Self.refusal(hub, try Self.create("c"))
        #expect(error?.message.contains("without owner") == true)
    }

    @Test func aRetryCountsAsOneMoreActiveTask() async throws {
        let (hub, _) = Hub.make { $0.ownerMaxActive = 1 }
        await Self.accepted(hub, [try Self.create("a", owner: "bob"), .operation(.cancel(id: "a")), try Self.create("b", owner: "bob")])
        await Self.expectRefusedWithoutChange(hub, .operation(.retry(id: "a")), code: "too_many_active", retryAfter: 5)
        guard case .task(_, _, let status) = Hub.replies(await hub.handle([.get(id: "a")]))[0] else { return }
        #expect(status == .cancelled)
        // A retry that is not a valid transition stays a 409, limit or not.
        #expect(await Self.refusal(hub, .operation(.retry(id: "b")))?.code == "invalid_transition")
        await Self.accepted(hub, [.operation(.cancel(id: "b")), .operation(.retry(id: "a"))])
    }

    /// Every way out of queued/running/cancelling frees the slot, and only once.
    @Test func finishingInAnyWayFreesTheSlotAndDeletingFreesNothingTwice() async throws {
        let (hub, clock) = Hub.make { $0.ownerMaxActive = 1 }
        let endings: [[TaskRequest]] = [
            [.operation(.start(id: "t0")), .operation(.complete(id: "t0", message: nil, result: nil))],
            [.operation(.start(id: "t1")), .operation(.fail(id: "t1", TaskFailure(code: "io", message: "disk")))],
            [.operation(.cancel(id: "t2"))],
            [.operation(.start(id: "t3")), .operation(.cancel(id: "t3")), .operation(.confirmCancelled(id: "t3"))],
        ]
        for (i, ending) in endings.enumerated() {
            await Self.accepted(hub, [try Self.create("t\(i)", owner: "bob")])
            await Self.expectRefusedWithoutChange(hub, try Self.create("x", owner: "bob"), code: "too_many_active", retryAfter: 5)
            await Self.accepted(hub, ending)
        }
        await Self.accepted(hub, [.operation(.delete(id: "t0")), .operation(.delete(id: "t1"))])
        // A cancelling task still holds its slot.
        await Self.accepted(hub, [try Self.create("c", owner: "bob"), .operation(.start(id: "c")), .operation(.cancel(id: "c"))])
        await Self.expectRefusedWithoutChange(hub, try Self.create("x", owner: "bob"), code: "too_many_active", retryAfter: 5)
        // A lease that expires fails the task: the slot is free again.
        let lease = try TaskValidation.create(Hub.body(#"{"id":"l","title":"L","owner":"ann","lease_s":1,"expire_s":2}"#))
        await Self.accepted(hub, [.operation(.create(lease)), .operation(.start(id: "l"))])
        await Self.expectRefusedWithoutChange(hub, try Self.create("y", owner: "ann"), code: "too_many_active", retryAfter: 5)
        clock.now += 2_001
        await hub.tick()
        await Self.accepted(hub, [try Self.create("y", owner: "ann")])
    }

    @Test func retryAfterIsTheSoonestETAOfTheOwnersRunningTasksClampedToOneMinute() async throws {
        let (hub, clock) = Hub.make { $0.ownerMaxActive = 2 }
        await Self.accepted(hub, [try Self.create("a", owner: "bob", total: 100), .operation(.start(id: "a")),
                                  try Self.create("b", owner: "bob", total: 10_000), .operation(.start(id: "b"))])
        clock.now += 1_000
        // 10 units in 1 s each: a has 9 s left, b 999 s.
        await Self.accepted(hub, [try Self.progress("a", done: 10), try Self.progress("b", done: 10)])
        await Self.expectRefusedWithoutChange(hub, try Self.create("c", owner: "bob"), code: "too_many_active", retryAfter: 9)
        // a finishes; c (queued, no ETA) takes its slot: only b's 999 s is left, clamped.
        await Self.accepted(hub, [.operation(.complete(id: "a", message: nil, result: nil)), try Self.create("c", owner: "bob")])
        await Self.expectRefusedWithoutChange(hub, try Self.create("d", owner: "bob"), code: "too_many_active",
                                              retryAfter: OwnerLimits.activeRetryAfterRange.upperBound)
        clock.now += 1_000
        await Self.accepted(hub, [try Self.progress("b", done: 9_998)])  // ~0.0004 s left: at least 1
        await Self.expectRefusedWithoutChange(hub, try Self.create("d", owner: "bob"), code: "too_many_active",
                                              retryAfter: OwnerLimits.activeRetryAfterRange.lowerBound)
    }

    /// The check comes before anything a create does: a full hub would evict a finished task
    /// to make room, which a refused create must not.
    @Test func aRefusedCreateEvictsNothing() async throws {
        let (hub, _) = Hub.make {
            $0.ownerMaxActive = 1
            $0.maxTasks = 2
        }
        await Self.accepted(hub, [try Self.create("done"), .operation(.cancel(id: "done")), try Self.create("a", owner: "bob")])
        await Self.expectRefusedWithoutChange(hub, try Self.create("b", owner: "bob"), code: "too_many_active", retryAfter: 5)
        guard case .task = Hub.replies(await hub.handle([.get(id: "done")]))[0] else {
            Issue.record("the finished task was evicted")
            return
        }
    }

    @Test func activeCountsComeBackFromTheStoreOnRestart() async throws {
        let store = MemoryTaskStore()
        var config = TaskHubConfiguration()
        config.ownerMaxActive = 2
        let first = TaskHub(configuration: config, store: store)
        _ = try await first.restore()
        await Self.accepted(first, [try Self.create("a", owner: "bob"), try Self.create("b", owner: "bob"),
                                    .operation(.cancel(id: "b")), try Self.create("c", owner: "bob")])
        try await first.shutdown()
        let second = TaskHub(configuration: config, store: store)
        _ = try await second.restore()
        await Self.expectRefusedWithoutChange(second, try Self.create("d", owner: "bob"), code: "too_many_active", retryAfter: 5)
        await Self.accepted(second, [.operation(.cancel(id: "a")), try Self.create("d", owner: "bob")])
    }

    // MARK: --owner-max-rate

    @Test func theCreateOnePastTheRateIsRefusedUntilTheOldestLeavesTheWindow() async throws {
        let (hub, clock) = Hub.make { $0.ownerMaxRate = 3 }
        let start = clock.now
        for (i, at) in [0, 10_000, 20_000].enumerated() {
            clock.now = start + Int64(at)
            await Self.accepted(hub, [try Self.create("t\(i)", owner: "bob")])
        }
        clock.now = start + 30_000
        await Self.expectRefusedWithoutChange(hub, try Self.create("x", owner: "bob"), code: "rate_limited", retryAfter: 30)
        clock.now = start + 30_001  // 29.999 s: rounded up
        await Self.expectRefusedWithoutChange(hub, try Self.create("x", owner: "bob"), code: "rate_limited", retryAfter: 30)
        clock.now = start + 59_999
        await Self.expectRefusedWithoutChange(hub, try Self.create("x", owner: "bob"), code: "rate_limited", retryAfter: 1)
        // The refusals did not count: exactly 60 s after the first create, the fourth is admitted.
        clock.now = start + 60_000
        await Self.accepted(hub, [try Self.create("t3", owner: "bob")])
        // The window slid: now the create at 10 s is the oldest of the last three.
        clock.now = start + 61_000
        await Self.expectRefusedWithoutChange(hub, try Self.create("x", owner: "bob"), code: "rate_limited", retryAfter: 9)
        await Self.accepted(hub, [try Self.create("x", owner: "alice")])
    }

    @Test func onlyCreatesCountTowardTheRateAndOwnerlessTasksShareOneLog() async throws {
        let (hub, _) = Hub.make { $0.ownerMaxRate = 1 }
        await Self.accepted(hub, [try Self.create("a", owner: "bob"), .operation(.cancel(id: "a")), .operation(.retry(id: "a"))])
        await Self.expectRefusedWithoutChange(hub, try Self.create("b", owner: "bob"), code: "rate_limited", retryAfter: 60)
        await Self.accepted(hub, [try Self.create("c")])
        await Self.expectRefusedWithoutChange(hub, try Self.create("d"), code: "rate_limited", retryAfter: 60)
    }

    @Test func bothLimitsAtOnceReportTheActiveOneFirst() async throws {
        let (hub, _) = Hub.make {
            $0.ownerMaxActive = 1
            $0.ownerMaxRate = 1
        }
        await Self.accepted(hub, [try Self.create("a", owner: "bob")])
        await Self.expectRefusedWithoutChange(hub, try Self.create("b", owner: "bob"), code: "too_many_active", retryAfter: 5)
        await Self.accepted(hub, [.operation(.cancel(id: "a"))])
        await Self.expectRefusedWithoutChange(hub, try Self.create("b", owner: "bob"), code: "rate_limited", retryAfter: 60)
    }

    /// Memory goes only to owners with recent creates: older logs are dropped by the sweep.
    @Test func createLogsOfOwnersWithNoRecentCreateAreDropped() async throws {
        let (hub, clock) = Hub.make { $0.ownerMaxRate = 5 }
        await Self.accepted(hub, try ["ann", "bob", "cid"].map { (name: String) in try Self.create("t-\(name)", owner: name) })
        #expect(await hub.ownerLimits.ownersWithCreateLogs == 3)
        clock.now += OwnerLimits.rateWindowMilliseconds + OwnerLimits.sweepIntervalMilliseconds
        await Self.accepted(hub, [try Self.create("t-dan", owner: "dan")])
        #expect(await hub.ownerLimits.ownersWithCreateLogs == 1)
    }

    @Test func withoutLimitsNothingIsCountedOrRefused() async throws {
        let (hub, _) = Hub.make()
        await Self.accepted(hub, try (0..<50).map { try Self.create("t\($0)", owner: "bob") })
        #expect(await hub.ownerLimits.activeIDs(of: "bob").isEmpty)
        #expect(await hub.ownerLimits.ownersWithCreateLogs == 0)
    }
}
