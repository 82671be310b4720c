/// How long a supervisor waits before restarting a process that died: 0.1 s, doubling with
/// each quick death up to 5 s; back to 0.1 s once the process had run 10 s. One per slot (each
/// worker, the broker), so one crash-looping process never slows another's restart.
public struct SupervisorBackoff: Sendable, Equatable {
    /// A single crash costs a blink: clients retrying a refused connection barely notice.
    public static let first = 0.1
    /// A crash loop (bad flag, broken disk) costs one spawn and a log line every 5 s, not a
    /// busy CPU and a flooded log.
    public static let longest = 5.0
    /// A process that ran this long was healthy: its next death is a new problem, not the same
    /// crash loop, so it is restarted at once again.
    public static let healthyRun = 10.0

    private var next = first

    public init() {}

    /// The wait before restarting a process that ran `seconds` before dying.
    public mutating func delay(afterRunning seconds: Double) -> Double {
        if seconds >= Self.healthyRun { next = Self.first }
        let delay = next
        next = min(next * 2, Self.longest)
        return delay
    }
}
