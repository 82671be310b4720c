import HeraldTasks

/// The single authority over tasks, as seen by a server process. `LocalBroker` is the task
/// actor in the same process (standalone `herald serve`); a Unix-socket broker forwards the same
/// calls to `herald broker`. Server code talks only to this protocol, so another implementation
/// (one on a distributed engine, for several hosts) needs no server change. Every
/// implementation passes `BrokerConformanceTests`.
public protocol Broker: AnyObject, Sendable {
    /// Starts delivering events caused by anyone else (other processes, lease timers) to
    /// `receiver`, one call per batch, in seq order.
    func attach(_ receiver: BrokerReceiver) async throws
    /// Applies a batch of requests in order. Returns the events of the batch and each reply at
    /// its place among them; `receiver` (the caller) is not sent these events a second time.
    func submit(_ requests: [TaskRequest], from receiver: BrokerReceiver) async throws -> [HubOutput]
}

/// A server process's side of a broker: where events it did not cause arrive
/// (`publish(_:)`, one call per batch).
public protocol BrokerReceiver: TaskEventSink {
    /// The connection to the broker was lost and is back: events in between were not seen, so
    /// the receiver's subscribers must resume from what they saw (`since=`).
    func brokerReconnected()
}

extension BrokerReceiver {
    public func brokerReconnected() {}
}

/// Why a batch could not be handled; the server answers its requests with 503.
public struct BrokerUnavailable: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
