import HeraldTasks

/// The broker of a standalone server: the task actor itself, in this process. One actor hop
/// per batch.
public final class LocalBroker: Broker {
    public let hub: TaskHub

    public init(hub: TaskHub) {
        self.hub = hub
    }

    public func attach(_ receiver: BrokerReceiver) async throws {
        await attach(receiver, resumingAfter: nil, epoch: "")
    }

    /// Attaches a server process that may have seen events up to `lastSeq` of `epoch` (the
    /// broker's side of a reconnect).
    public func attach(_ receiver: TaskEventSink, resumingAfter lastSeq: UInt64?, epoch: String) async {
        await hub.addSink(receiver, resumingAfter: lastSeq, epoch: epoch)
    }

    /// The receiver is gone: no more events for it.
    public func detach(_ receiver: TaskEventSink) async {
        await hub.removeSink(receiver)
    }

    public func submit(_ requests: [TaskRequest], batch: UInt64, from receiver: BrokerReceiver) async {
        await handle(requests, batch: batch, from: receiver)
    }

    /// `submit` for any sink, such as a server process behind the socket (`BrokerPeer`).
    func handle(_ requests: [TaskRequest], batch: UInt64, from sink: TaskEventSink) async {
        await hub.handle(requests, batch: batch, from: sink)
    }

    public var status: BrokerStatus { BrokerStatus() }

    /// Leases and retention: whoever owns the actor ticks it.
    public func tick() async {
        await hub.tick()
    }
}
