/// A refused request: the HTTP status, the contract's snake_case code, and a message for a
/// person. Nothing changes when one is thrown.
public struct TaskError: Error, Equatable, Sendable, CustomStringConvertible {
    public var status: Int
    public var code: String
    public var message: String
    /// Whole seconds (≥ 1) after which the same request may succeed: the `Retry-After` of a
    /// refusal that is only temporary (RFC 9110 §10.2.3, RFC 6585 §4); nil for the others.
    public var retryAfterSeconds: Int?

    public init(status: Int, code: String, message: String, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(status) \(code): \(message)" }

    public static func invalidJSON(_ message: String) -> TaskError { TaskError(status: 400, code: "invalid_json", message: message) }
    public static func invalidField(_ field: String, _ why: String) -> TaskError {
        TaskError(status: 400, code: "invalid_field", message: "\(field): \(why)")
    }
    public static func missingField(_ field: String) -> TaskError {
        TaskError(status: 400, code: "missing_field", message: "\(field) is required")
    }
    public static func notFound(_ id: String) -> TaskError { TaskError(status: 404, code: "not_found", message: "no task with id \(id)") }
    public static func forbidden(_ message: String) -> TaskError { TaskError(status: 403, code: "forbidden", message: message) }
    public static func alreadyExists(_ id: String) -> TaskError {
        TaskError(status: 409, code: "already_exists", message: "a task with id \(id) already exists")
    }
    public static func invalidTransition(_ what: String, from status: TaskStatus, hint: String = "") -> TaskError {
        TaskError(status: 409, code: "invalid_transition", message: "cannot \(what) a task that is \(status.rawValue)\(hint.isEmpty ? "" : "; \(hint)")")
    }
}
