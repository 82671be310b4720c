/// A task's lifecycle state (contract: queued → running → succeeded | failed | cancelling →
/// cancelled; queued → cancelled; failed | cancelled → queued by retry).
public enum TaskStatus: String, Sendable, CaseIterable {
    case queued, running, succeeded, failed, cancelling, cancelled

    /// A terminal task never changes again except by retry or delete.
    public var isTerminal: Bool {
        switch self {
        case .succeeded, .failed, .cancelled: return true
        case .queued, .running, .cancelling: return false
        }
    }

    /// Statuses whose worker must keep its lease alive.
    public var holdsLease: Bool { self == .running || self == .cancelling }
}

/// What happened to a task, as named in the event stream.
public enum TaskEventName: String, Sendable {
    case created, started, progress, stale, succeeded, failed, cancelling, cancelled, retried
}
