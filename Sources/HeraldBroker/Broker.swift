import HeraldTasks

/// The single authority over tasks, as seen by a server process. `LocalBroker` is the task
/// actor in the same process (standalone `herald serve`); `UnixSocketBroker` forwards the same
/// calls to `herald broker`. Server code talks only to this protocol, so another implementation
/// (one on a distributed engine, for several hosts) needs no server change. Every
/// implementation passes `BrokerConformanceTests`.
///
/// Everything a receiver hears — events of others, outputs of its own batches, failures — comes
/// through its `BrokerReceiver` calls, made one after another in seq order. Nothing comes back
/// from an `await`: a result returned that way would race with the next event.
public protocol Broker: AnyObject, Sendable {
    /// Starts delivering events to `receiver`. Returns once it is attached (the first
    /// `attached(epoch:seq:missed:)` has been made); throws when the broker cannot be reached.
    func attach(_ receiver: BrokerReceiver) async throws
    /// Sends a batch of requests, applied in order and after every batch this receiver sent
    /// before. Its outputs arrive through `receiver.complete(batch:_:)`, or
    /// `receiver.batchFailed(_:reason:)` when the broker could not take it (never neither).
    /// Returns as soon as the batch is on its way, so batches pipeline.
    func submit(_ requests: [TaskRequest], batch: UInt64, from receiver: BrokerReceiver) async
    /// Figures for /metrics (connection state, lag, resyncs).
    var status: BrokerStatus { get }
}

/// A server process's side of a broker.
public protocol BrokerReceiver: TaskEventSink {
    /// The batch did not reach the broker, or its answer was lost with the connection: each of
    /// its requests must be answered 503 (the caller may retry; nothing is silently lost).
    func batchFailed(_ batch: UInt64, reason: String)
}

/// Why the broker cannot be reached (attach fails with it).
public struct BrokerUnavailable: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// How a server process's link to the broker is doing.
public struct BrokerStatus: Sendable, Equatable {
    /// False while the connection to the broker is down (requests get 503).
    public var connected = true
    /// Connections lost and made again.
    public var reconnects: UInt64 = 0
    /// Reconnects after which the missed events could not be replayed (another epoch, or more
    /// than the history holds): the subscribers were closed with 1012 to resume themselves.
    public var resyncs: UInt64 = 0
    /// Events replayed on reconnects that could resume.
    public var replayedEvents: UInt64 = 0
    /// The broker's latest seq as last heard (welcome, events, pongs); the server's lag is this
    /// minus the last seq it applied.
    public var headSeq: UInt64 = 0

    public init() {}
}
