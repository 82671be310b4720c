/// Handshakes of one server process, over every TLS context it had (a SIGHUP reload keeps
/// counting here). Touched on the loop thread only.
public final class TLSStatistics: @unchecked Sendable {
    public internal(set) var fullHandshakes: UInt64 = 0
    public internal(set) var resumedHandshakes: UInt64 = 0
    /// Garbage, a refused version or protocol, renegotiation before the end, or a stall past
    /// --header-timeout.
    public internal(set) var failedHandshakes: UInt64 = 0

    public init() {}
}
