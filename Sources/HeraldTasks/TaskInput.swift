import HeraldWire

public struct CreateInput: Sendable, Equatable {
    public var id: String?
    public var title: String
    public var owner: String?
    public var total: Double?
    public var leaseSeconds: Double
    public var expireSeconds: Double
    public var meta: JSONObject
    /// `timeout_s` and `stall_s` as given; the hub applies the server's defaults.
    public var timeout = DeadlineSetting.serverDefault
    public var stall = DeadlineSetting.serverDefault
}

public struct ProgressInput: Sendable, Equatable {
    public var done: Double?
    /// `.some(nil)` sets the total to unknown; nil leaves it alone.
    public var total: Double??
    public var percent: Double?
    public var message: String?
}

/// A change (or read) asked of the task actor, validated already.
public enum TaskOperation: Sendable {
    case create(CreateInput)
    case start(id: String)
    case progress(id: String, ProgressInput)
    case heartbeat(id: String)
    case complete(id: String, message: String?, result: JSONValue?)
    case fail(id: String, TaskFailure)
    case cancel(id: String)
    case confirmCancelled(id: String)
    case retry(id: String)
    case delete(id: String)

    public var taskID: String? {
        switch self {
        case .create(let input): return input.id
        case .start(let id), .progress(let id, _), .heartbeat(let id), .complete(let id, _, _), .fail(let id, _),
             .cancel(let id), .confirmCancelled(let id), .retry(let id), .delete(let id):
            return id
        }
    }
}
