/// `POST /api/batch` as the actor receives it: already validated in full on the loop (a
/// malformed item refuses the whole batch before anything is applied).
public enum TaskBatch: Sendable, Equatable {
    case create([CreateInput])
    case change(TaskBatchAction, TaskBatchSelection)

    /// The contract's cap: 1,000 items per batch (`413 too_many_items` past it) — a click in a
    /// publishing queue, not a bulk import; it bounds one actor turn and one transaction.
    public static let maxItems = 1_000
}

/// The changes a batch may make to existing tasks, each exactly its single call.
public enum TaskBatchAction: String, Sendable, CaseIterable {
    case cancel, retry, delete

    var operation: (String) -> TaskOperation {
        switch self {
        case .cancel: return { .cancel(id: $0) }
        case .retry: return { .retry(id: $0) }
        case .delete: return { .delete(id: $0) }
        }
    }
}

/// Which tasks a change batch names: explicit ids, or a filter the actor resolves when it
/// applies the batch (in seq order).
public enum TaskBatchSelection: Sendable, Equatable {
    case ids([String])
    case filter(owner: String?, statuses: Set<TaskStatus>)
}
