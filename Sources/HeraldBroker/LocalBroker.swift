import HeraldTasks

/// The broker of a standalone server: the task actor itself, in this process. One actor hop
/// per batch.
public final class LocalBroker: Broker {
    public let hub: TaskHub

    public init(hub: TaskHub) {
        self.hub = hub
    }

    public func attach(_ receiver: BrokerReceiver) async throws {
        await hub.addSink(receiver)
    }

    /// The receiver is gone: no more events for it.
    public func detach(_ receiver: BrokerReceiver) async {
        await hub.removeSink(receiver)
    }

    public func submit(_ requests: [TaskRequest], from receiver: BrokerReceiver) async throws -> [HubOutput] {
        await hub.handle(requests, from: receiver)
    }

    /// Leases and retention: whoever owns the actor ticks it.
    public func tick() async {
        await hub.tick()
    }
}
