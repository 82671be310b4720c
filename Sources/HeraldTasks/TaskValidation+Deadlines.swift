import HeraldWire

extension TaskValidation {
    /// `timeout_s`, `stall_s`, `--task-timeout` and `--task-stall` are at most 30 days: longer
    /// than any job someone watches a progress bar for, and a larger number is most likely
    /// milliseconds given as seconds — a deadline that would never fire.
    public static let maxDeadlineSeconds = 2_592_000.0

    /// A positive, finite number of seconds up to `maxDeadlineSeconds`. Zero is not "none"
    /// (that is `null`, or leaving the field out): a deadline of 0 s would fail every task at
    /// its start.
    public static func isValidDeadline(_ seconds: Double) -> Bool {
        seconds.isFinite && seconds > 0 && seconds <= maxDeadlineSeconds
    }

    /// A create body's `timeout_s` or `stall_s`: absent → the server's default, `null` → none.
    static func deadline(_ value: JSONValue?, _ field: String) throws(TaskError) -> DeadlineSetting {
        guard let value else { return .serverDefault }
        if value.isNull { return .off }
        guard let seconds = value.numberValue else { throw .invalidField(field, "must be a number of seconds, or null for none") }
        guard isValidDeadline(seconds) else {
            throw .invalidField(field, "must be more than 0 and at most \(Int(maxDeadlineSeconds)) seconds (30 days)")
        }
        return .seconds(seconds)
    }
}
