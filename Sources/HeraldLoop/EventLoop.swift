import CHeraldLinux
import Glibc

/// Something registered with the loop's selector.
protocol IOHandler: AnyObject {
    func handle(events: UInt32)
}

/// One epoll loop on one thread, after redis' ae: file events and timers, nothing else. It knows
/// nothing about HTTP or tasks. Everything but `execute` and `stop` must be called on the loop's
/// own thread; `execute` is how other threads and actors hand work in.
///
/// One turn: wait → dispatch I/O events → run due timers → run handed-in work → end-of-turn hooks
/// → flush every connection with pending output (one write or writev each) → free closed connections.
public final class EventLoop: @unchecked Sendable {
    // @unchecked: all mutable state is confined to the loop thread, except `pending`, which is
    // guarded by `pendingLock`.
    private let selector: EpollSelector
    private let wakeFD: Int32
    private let timerFD: Int32
    private var handlers: [UInt64: IOHandler] = [:]
    private var nextRegistrationID: UInt64 = 16  // ids below are reserved for the loop's own fds
    private static let wakeID: UInt64 = 1
    private static let timerID: UInt64 = 2

    private var timers = TimerHeap()
    private var armedDeadline: UInt64 = 0

    private var pendingLock = pthread_mutex_t()
    private var pending: [@Sendable () -> Void] = []
    private var wakePending = false

    private var running = false
    private var stopRequested = false
    private var thread: pthread_t?

    var dirtyConnections: [Connection] = []
    var closedConnections: [Connection] = []
    private var endOfTurnHooks: [() -> Void] = []

    /// A read buffer shared by every connection of this loop: bytes are handed to the delegate,
    /// which copies what it keeps.
    let readBuffer: UnsafeMutableRawBufferPointer
    public static let readBufferSize = 64 * 1024
    /// Where a connection's queued bytes are gathered before one write: a TLS record before
    /// SSL_write, or small chunks that would each cost the kernel an iovec segment (OutputQueue).
    let writeScratch: UnsafeMutableRawBufferPointer

    /// Monotonic nanoseconds, read once per turn (cheap "now" for timeouts).
    public private(set) var now: UInt64 = MonotonicClock.now()

    public init() throws(SystemError) {
        selector = try EpollSelector()
        wakeFD = try Syscall.retrying("eventfd") { herald_linux_eventfd() }
        timerFD = try Syscall.retrying("timerfd_create") { herald_linux_timerfd_create() }
        readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        writeScratch = .allocate(byteCount: TLSSession.recordBytes, alignment: 16)
        pthread_mutex_init(&pendingLock, nil)
        try selector.add(fd: wakeFD, interest: .read, id: Self.wakeID)
        try selector.add(fd: timerFD, interest: .read, id: Self.timerID)
    }

    deinit {
        Syscall.close(wakeFD)
        Syscall.close(timerFD)
        readBuffer.deallocate()
        writeScratch.deallocate()
        pthread_mutex_destroy(&pendingLock)
    }

    /// True when called on the thread running this loop.
    public var inEventLoop: Bool {
        guard let thread else { return false }
        return pthread_equal(thread, pthread_self()) != 0
    }

    // MARK: Handing work in (thread-safe)

    /// Runs `work` on the loop thread during its next turn. The only thread-safe entry, with `stop`.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        pthread_mutex_lock(&pendingLock)
        pending.append(work)
        let needsWake = !wakePending
        wakePending = true
        pthread_mutex_unlock(&pendingLock)
        // One eventfd write per batch, not per item: the loop takes the whole batch at once.
        if needsWake {
            var one: UInt64 = 1
            _ = Glibc.write(wakeFD, &one, 8)
        }
    }

    /// Makes `run` return after the current turn. Thread-safe.
    public func stop() {
        execute { [self] in stopRequested = true }
    }

    // MARK: Running

    /// Runs turns on the calling thread until `stop()`.
    public func run() throws(SystemError) {
        precondition(!running, "EventLoop.run called twice")
        thread = pthread_self()
        running = true
        defer { running = false }
        while !stopRequested {
            try turn()
        }
        // Give connections closed by the last turn their final callbacks.
        runEndOfTurn()
    }

    private func turn() throws(SystemError) {
        var timerFired = false
        var clockRead = false
        try selector.wait(timeoutMs: -1) { id, events in
            // Read the clock once the wait is over, before any handler runs: handlers stamp
            // progress (body bytes, idle-since) with `now`, which must not be the time we slept.
            if !clockRead {
                now = MonotonicClock.now()
                clockRead = true
            }
            switch id {
            case Self.wakeID: drainCounter(wakeFD)
            case Self.timerID:
                drainCounter(timerFD)
                timerFired = true
            default:
                // A stale id (its fd was closed earlier in this turn and maybe reused) finds nothing.
                handlers[id]?.handle(events: events)
            }
        }
        if !clockRead { now = MonotonicClock.now() }
        if timerFired || (timers.earliestDeadline ?? .max) <= now {
            for due in timers.popExpired(now: now) {
                switch due {
                case .callback(let callback): callback()
                case .target(let target): target.loopTimerFired()
                }
            }
        }
        runPending()
        runEndOfTurn()
        rearmTimer()
    }

    private func runPending() {
        pthread_mutex_lock(&pendingLock)
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        wakePending = false
        pthread_mutex_unlock(&pendingLock)
        for work in batch { work() }
    }

    private func runEndOfTurn() {
        for hook in endOfTurnHooks { hook() }
        // Flushing can close a connection (write error) and closing can run delegate code that
        // writes to another connection, so loop until both lists are settled.
        while !dirtyConnections.isEmpty || !closedConnections.isEmpty {
            let dirty = dirtyConnections
            dirtyConnections.removeAll(keepingCapacity: true)
            for connection in dirty { connection.flushNow() }
            let closed = closedConnections
            closedConnections.removeAll(keepingCapacity: true)
            for connection in closed { connection.free() }
        }
    }

    private func drainCounter(_ fd: Int32) {
        var value: UInt64 = 0
        _ = Glibc.read(fd, &value, 8)
    }

    // MARK: End-of-turn hooks

    /// `hook` runs at the end of every turn, before connections are flushed: the place to
    /// batch work gathered during the turn into one hop to an actor.
    public func addEndOfTurnHook(_ hook: @escaping () -> Void) {
        endOfTurnHooks.append(hook)
    }

    // MARK: Timers

    /// Calls `callback` on the loop thread after `nanoseconds`.
    @discardableResult
    public func scheduleTimer(afterNanoseconds nanoseconds: UInt64, _ callback: @escaping () -> Void) -> TimerID {
        let id = timers.schedule(at: MonotonicClock.now() &+ nanoseconds, callback)
        rearmTimer()
        return id
    }

    @discardableResult
    public func scheduleTimer(afterSeconds seconds: Double, _ callback: @escaping () -> Void) -> TimerID {
        scheduleTimer(afterNanoseconds: UInt64(max(0, seconds) * 1e9), callback)
    }

    public func cancelTimer(_ id: TimerID) {
        guard id != .none else { return }
        timers.cancel(id)
    }

    /// Calls `target.loopTimerFired()` on the loop thread once `deadline` (monotonic ns, as
    /// `now`) has passed. The loop holds `target` until the timer fires or is disarmed.
    public func armTimer(_ target: any LoopTimerTarget, atDeadline deadline: UInt64) -> LoopTimer {
        let timer = timers.arm(target, at: deadline)
        rearmTimer()
        return timer
    }

    /// Disarms `timer`; one that already fired or was disarmed (its slot maybe reused by another
    /// target since) is left alone.
    public func disarmTimer(_ timer: LoopTimer) {
        timers.disarm(timer)
    }

    /// True while `timer` is armed: it has neither fired nor been disarmed.
    public func isArmed(_ timer: LoopTimer) -> Bool {
        timers.isArmed(timer)
    }

    /// Timers pending (closure and target ones), for tests.
    var pendingTimerCount: Int { timers.count }

    /// Points the single timerfd at the earliest deadline, only when that deadline changed.
    private func rearmTimer() {
        let earliest = timers.earliestDeadline ?? 0
        guard earliest != armedDeadline else { return }
        armedDeadline = earliest
        var spec = itimerspec()
        if earliest != 0 {
            let at = max(earliest, 1)
            let nowNs = MonotonicClock.now()
            let delta = at > nowNs ? at - nowNs : 1  // 0 would disarm: fire "now" instead
            spec.it_value.tv_sec = Int(delta / 1_000_000_000)
            spec.it_value.tv_nsec = Int(delta % 1_000_000_000)
        }
        _ = herald_linux_timerfd_settime(timerFD, &spec)
    }

    // MARK: Registrations (loop thread)

    func register(fd: Int32, interest: IOInterest, handler: IOHandler) throws(SystemError) -> UInt64 {
        let id = nextRegistrationID
        nextRegistrationID += 1
        try selector.add(fd: fd, interest: interest, id: id)
        handlers[id] = handler
        return id
    }

    func reregister(fd: Int32, interest: IOInterest, id: UInt64) {
        try? selector.modify(fd: fd, interest: interest, id: id)
    }

    func deregister(fd: Int32, id: UInt64) {
        selector.remove(fd: fd)
        handlers.removeValue(forKey: id)
    }

    var registrationCount: Int { handlers.count }
}
