/// One timer that follows a deadline which moves often (a connection's read, idle or ping
/// deadline), for an owner that is itself the timer's target (an HTTP connection, a WebSocket):
/// the loop's timer table holds the owner, so there is no timer object, closure or weak
/// reference per owner — 16 bytes inline. Moving the deadline later costs nothing: the armed
/// timer stays, fires early, the owner finds nothing due and aims again. Only an earlier
/// deadline re-schedules, so progress on a busy connection does not touch the timer heap on
/// every read. The owner's `loopTimerFired()` should check what is due and call `aim` again; it
/// must `cancel` when it is done with the loop (the loop holds it while armed).
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
