/// A deadline of a create body (`timeout_s`, `stall_s`), before the server's default is applied.
public enum DeadlineSetting: Sendable, Equatable {
    /// Not in the body: the server's default (`--task-timeout`, `--task-stall`) applies.
    case serverDefault
    /// `null`: no deadline, whatever the server's default — for the one job known to run long.
    case off
    case seconds(Double)

    /// The task's deadline in seconds (nil: none), given the server's default.
    func resolved(default serverDefault: Double?) -> Double? {
        switch self {
        case .serverDefault: serverDefault
        case .off: nil
        case .seconds(let seconds): seconds
        }
    }
}
