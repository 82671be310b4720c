import Dispatch
import Testing
@testable import HeraldLoop

/// Target timers (`EventLoop.armTimer`, `TargetDeadlineTimer`): the per-connection timers kept
/// in the loop's timer table as a slot + generation instead of a closure and a weak reference.
@Suite(.serialized) struct LoopTimerTests {
    final class Target: LoopTimerTarget, @unchecked Sendable {
        let name: String
        var fired: [String]
        var onFire: (() -> Void)?
        init(_ name: String, log: [String] = []) {
            self.name = name
            fired = log
        }
        func loopTimerFired() {
            fired.append(name)
            onFire?()
        }
    }

    private func fire(_ due: [TimerHeap.Due]) -> Int {
        for item in due {
            switch item {
            case .callback(let cb): cb()
            case .target(let target): target.loopTimerFired()
            }
        }
        return due.count
    }

    @Test func anArmedTargetFiresOnceAtItsDeadlineAndIsThenDisarmed() {
        var heap = TimerHeap()
        let a = Target("a")
        let timer = heap.arm(a, at: 100)
        #expect(heap.isArmed(timer))
        #expect(heap.count == 1)
        #expect(fire(heap.popExpired(now: 99)) == 0)
        #expect(fire(heap.popExpired(now: 100)) == 1)
        #expect(a.fired == ["a"])
        #expect(!heap.isArmed(timer))
        #expect(heap.count == 0)
        #expect(fire(heap.popExpired(now: 1_000)) == 0)
    }

    @Test func aDisarmedTargetNeverFiresAndDisarmingTwiceIsHarmless() {
        var heap = TimerHeap()
        let a = Target("a")
        let timer = heap.arm(a, at: 100)
        heap.disarm(timer)
        heap.disarm(timer)
        heap.disarm(.none)
        #expect(!heap.isArmed(timer))
        #expect(heap.count == 0)
        #expect(heap.earliestDeadline == nil)  // the dead entry at the top was dropped
        #expect(fire(heap.popExpired(now: 1_000)) == 0)
        #expect(a.fired.isEmpty)
    }

    @Test func aStaleEntryOfAReusedSlotDoesNothing() {
        // A's timer (deadline 100) is disarmed, then B gets the same slot with a later deadline:
        // A's entry, still deep in the heap, must not fire B early; A's stale handle must not
        // disarm B.
        var heap = TimerHeap()
        let a = Target("a"), b = Target("b"), c = Target("c")
        _ = heap.arm(c, at: 50)  // keeps A's entry from being at the top when it is disarmed
        let timerA = heap.arm(a, at: 100)
        heap.disarm(timerA)
        let timerB = heap.arm(b, at: 300)
        #expect(timerB.slot == timerA.slot)
        #expect(timerB.generation != timerA.generation)
        heap.disarm(timerA)  // stale: B stays armed
        #expect(heap.isArmed(timerB))
        #expect(fire(heap.popExpired(now: 100)) == 1)  // only C
        #expect(c.fired == ["c"])
        #expect(b.fired.isEmpty && a.fired.isEmpty)
        #expect(fire(heap.popExpired(now: 300)) == 1)
        #expect(b.fired == ["b"])
        #expect(a.fired.isEmpty)
    }

    @Test func aFiredSlotReusedByANewTargetIsNotFiredByTheOldHandle() {
        var heap = TimerHeap()
        let a = Target("a"), b = Target("b")
        let timerA = heap.arm(a, at: 10)
        #expect(fire(heap.popExpired(now: 10)) == 1)
        let timerB = heap.arm(b, at: 20)
        #expect(timerB.slot == timerA.slot)
        #expect(!heap.isArmed(timerA))
        heap.disarm(timerA)
        #expect(heap.isArmed(timerB))
        #expect(fire(heap.popExpired(now: 20)) == 1)
        #expect(a.fired == ["a"] && b.fired == ["b"])
    }

    @Test func targetAndClosureTimersShareOneOrderAndCancelledEntriesDoNotPileUp() {
        var heap = TimerHeap()
        var order: [String] = []
        final class Log: LoopTimerTarget {
            let name: String
            let append: (String) -> Void
            init(_ name: String, _ append: @escaping (String) -> Void) { self.name = name; self.append = append }
            func loopTimerFired() { append(name) }
        }
        _ = heap.schedule(at: 30) { order.append("closure30") }
        _ = heap.arm(Log("target20") { order.append($0) }, at: 20)
        _ = heap.arm(Log("target40") { order.append($0) }, at: 40)
        _ = heap.schedule(at: 10) { order.append("closure10") }
        // Re-arming one target many times (what a busy connection's earlier deadlines do) leaves
        // stale entries, which the heap sheds rather than keeps.
        let target = Target("busy")
        var timer = heap.arm(target, at: 10_000)
        for i in 0..<1_000 {
            heap.disarm(timer)
            timer = heap.arm(target, at: UInt64(9_000 - i))
        }
        #expect(heap.count == 5)
        _ = fire(heap.popExpired(now: 50))
        #expect(order == ["closure10", "target20", "closure30", "target40"])
        #expect(fire(heap.popExpired(now: 9_000)) == 1)
        #expect(target.fired == ["busy"])
        #expect(heap.count == 0)
    }

    @Test func theLoopHoldsAnArmedTargetUntilItFiresOrIsDisarmed() throws {
        var heap = TimerHeap()
        weak var weakA: Target?
        weak var weakB: Target?
        do {
            let a = Target("a"), b = Target("b")
            weakA = a
            weakB = b
            _ = heap.arm(a, at: 10)
            let timerB = heap.arm(b, at: 20)
            heap.disarm(timerB)
        }
        #expect(weakA != nil)  // armed: kept
        #expect(weakB == nil)  // disarmed: let go
        _ = fire(heap.popExpired(now: 10))
        #expect(weakA == nil)  // fired: let go
    }

    @Test func targetDeadlineTimerFiresOnTheLoopAndKeepsAnEarlierDeadline() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        let done = DispatchSemaphore(value: 0)
        final class Socket: LoopTimerTarget, @unchecked Sendable {
            let loop: EventLoop
            var timer = TargetDeadlineTimer()
            var firedAt: UInt64 = 0
            var onLoop = true
            let done: DispatchSemaphore
            init(loop: EventLoop, done: DispatchSemaphore) { self.loop = loop; self.done = done }
            func loopTimerFired() {
                onLoop = loop.inEventLoop
                firedAt = MonotonicClock.now()
                #expect(!timer.isArmed(on: loop))
                done.signal()
            }
        }
        let socket = Socket(loop: running.loop, done: done)
        let cancelled = Socket(loop: running.loop, done: done)
        let armedAt = try running.sync { () -> UInt64 in
            let now = MonotonicClock.now()
            // Later deadlines keep the armed one; an earlier one re-arms.
            socket.timer.aim(at: now + 200_000_000, target: socket, loop: socket.loop)
            socket.timer.aim(at: now + 400_000_000, target: socket, loop: socket.loop)
            socket.timer.aim(at: now + 30_000_000, target: socket, loop: socket.loop)
            #expect(socket.timer.isArmed(on: socket.loop))
            cancelled.timer.aim(at: now + 10_000_000, target: cancelled, loop: cancelled.loop)
            cancelled.timer.cancel(loop: cancelled.loop)
            cancelled.timer.aim(at: nil, target: cancelled, loop: cancelled.loop)
            return now
        }
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(socket.onLoop)
        #expect(socket.firedAt >= armedAt + 30_000_000)
        #expect(socket.firedAt < armedAt + 190_000_000)
        #expect(done.wait(timeout: .now() + 0.3) == .timedOut)  // nothing else fires
        #expect(cancelled.firedAt == 0)
        #expect(try running.sync { running.loop.pendingTimerCount } == 0)
    }
}
