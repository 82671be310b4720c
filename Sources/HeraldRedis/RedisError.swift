/// Why a command got no reply from Redis. Callers must tell the cases apart: only
/// `unavailable` and `server` mean "certainly not applied"; after `timeout` or
/// `connectionLost` the command may or may not have run.
public enum RedisError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Never sent: Redis could not be reached (or was loading) until the command's deadline.
    case unavailable(String)
    /// Sent, and no reply within `--redis-timeout` (Redis paused or wedged, a network stall).
    case timeout(String)
    /// Sent, and the connection closed before the reply.
    case connectionLost(String)
    /// Redis answered with an error reply (`-ERR`, `-OOM`, `-NOSCRIPT`…).
    case server(String)

    public var description: String {
        switch self {
        case .unavailable(let why): return "Redis unavailable: \(why)"
        case .timeout(let why): return "Redis timed out: \(why)"
        case .connectionLost(let why): return "connection to Redis lost: \(why)"
        case .server(let message): return "Redis error: \(message)"
        }
    }

    /// True when the command cannot have been applied.
    public var certainlyNotApplied: Bool {
        switch self {
        case .unavailable, .server: return true
        case .timeout, .connectionLost: return false
        }
    }
}
