/// One timer that follows a deadline which moves often (a connection's read, idle or ping
/// deadline). Moving the deadline later costs nothing: the armed timer stays, fires early, the
/// owner finds nothing due and aims again. Only an earlier deadline re-schedules, so progress
/// on a busy connection does not touch the timer heap on every read.
public final class DeadlineTimer {
    private unowned let loop: EventLoop
    private var timer: TimerID?
    private var armedDeadline: UInt64 = 0
    private let onFire: () -> Void

    /// `onFire` runs on the loop when the armed deadline passes; it should check what is due
    /// and call `aim(at:)` again.
    public init(loop: EventLoop, onFire: @escaping () -> Void) {
        self.loop = loop
        self.onFire = onFire
    }

    deinit {
        if let timer { loop.cancelTimer(timer) }
    }

    /// Makes sure the timer fires no later than `deadline` (monotonic ns); nil disarms it.
    public func aim(at deadline: UInt64?) {
        guard let deadline else {
            cancel()
            return
        }
        if timer != nil && armedDeadline <= deadline { return }
        cancel()
        armedDeadline = deadline
        let now = MonotonicClock.now()
        timer = loop.scheduleTimer(afterNanoseconds: deadline > now ? deadline - now : 0) { [weak self] in
            guard let self else { return }
            self.timer = nil
            self.onFire()
        }
    }

    public func cancel() {
        if let timer { loop.cancelTimer(timer) }
        timer = nil
    }
}

/// `DeadlineTimer`'s policy for an owner that is itself the timer's target (a WebSocket): the
/// loop's timer table holds the owner, so there is no timer object, closure or weak reference
/// per owner — 16 bytes inline. The owner's `loopTimerFired()` should check what is due and
/// call `aim` again; it must `cancel` when it is done with the loop (the loop holds it while armed).
public struct TargetDeadlineTimer {
    private var timer = LoopTimer.none
    private var armedDeadline: UInt64 = 0

    public init() {}

    /// Makes sure `target` is called no later than `deadline` (monotonic ns); nil disarms.
    public mutating func aim(at deadline: UInt64?, target: any LoopTimerTarget, loop: EventLoop) {
        guard let deadline else {
            cancel(loop: loop)
            return
        }
        if loop.isArmed(timer) && armedDeadline <= deadline { return }
        loop.disarmTimer(timer)
        armedDeadline = deadline
        timer = loop.armTimer(target, atDeadline: deadline)
    }

    public mutating func cancel(loop: EventLoop) {
        loop.disarmTimer(timer)
        timer = .none
    }

    /// True while armed (not fired, not cancelled).
    public func isArmed(on loop: EventLoop) -> Bool { loop.isArmed(timer) }
}
