/// The deadline `herald watch` counts down on a running row, computed the way the server fires
/// it (docs/protocol.md, "Deadlines"): `timeout_s` from `started_at` while running or
/// cancelling, `stall_s` from `progress_at` (else `started_at`) while running.
public struct WatchDeadline: Equatable, Sendable {
    public enum Kind: String, Sendable {
        case timeout
        case stall
    }

    public var kind: Kind
    /// Milliseconds since 1970.
    public var at: Int64

    /// "times out in 12m00s", "stalls in 40s"; "… in 0s" once due (the server fails the task
    /// on its next tick, and the failure replaces the row's countdown).
    public func text(now: Int64) -> String {
        let left = HumanNumber.duration(Double(max(0, at - now)) / 1000)
        switch kind {
        case .timeout: return "times out in \(left)"
        case .stall: return "stalls in \(left)"
        }
    }
}

extension WatchTask {
    /// The deadline this task meets first, or nil when none applies (no deadline set, not
    /// running, or no start time).
    public var nextDeadline: WatchDeadline? {
        guard let started = startedAt.flatMap(Timestamp.milliseconds) else { return nil }
        var candidates: [WatchDeadline] = []
        if status == "running" || status == "cancelling", let timeoutSeconds {
            candidates.append(WatchDeadline(kind: .timeout, at: started + Int64(timeoutSeconds * 1000)))
        }
        if status == "running", let stallSeconds {
            let last = progressAt.flatMap(Timestamp.milliseconds) ?? started
            candidates.append(WatchDeadline(kind: .stall, at: last + Int64(stallSeconds * 1000)))
        }
        return candidates.min { $0.at < $1.at }
    }
}
