/// A subscription topic: `tasks` (every task), `task:<id>` or `owner:<name>`.
public enum TaskTopic: Hashable, Sendable, CustomStringConvertible {
    case all
    case task(String)
    case owner(String)

    public init?(_ text: String) {
        if text == "tasks" {
            self = .all
        } else if text.hasPrefix("task:"), TaskValidation.isValidID(String(text.dropFirst(5))) {
            self = .task(String(text.dropFirst(5)))
        } else if text.hasPrefix("owner:"), TaskValidation.isValidOwner(String(text.dropFirst(6))) {
            self = .owner(String(text.dropFirst(6)))
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .all: return "tasks"
        case .task(let id): return "task:\(id)"
        case .owner(let name): return "owner:\(name)"
        }
    }

    func contains(_ task: TaskRecord) -> Bool {
        switch self {
        case .all: return true
        case .task(let id): return task.id == id
        case .owner(let name): return task.owner == name
        }
    }
}
