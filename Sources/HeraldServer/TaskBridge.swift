import HeraldBroker
import HeraldLoop
import HeraldTasks

/// The loop's side of the broker (the task actor, here or in `herald broker`). Requests made
/// during a loop turn are sent together at the end of the turn (one hop). Everything comes back
/// through the `BrokerReceiver` calls, which the broker makes in seq order; each becomes one
/// `loop.execute`, so the loop sees events and replies in exactly that order — a subscriber is
/// registered exactly where its snapshot ends, and no event overtakes another.
final class TaskBridge: BrokerReceiver, @unchecked Sendable {
    // @unchecked: everything but the receiver calls and `broker` runs on `loop`'s thread only.
    let broker: Broker
    private let loop: EventLoop
    private var pendingRequests: [TaskRequest] = []
    private var pendingCompletions: [(TaskReply) -> Void] = []
    private var inFlight: [UInt64: [(TaskReply) -> Void]] = [:]
    private var nextBatch: UInt64 = 0
    /// Called on the loop for every event, in order (the topic registry, long-polls).
    var onEvent: (PublishedEvent) -> Void = { _ in }
    /// Called on the loop when events were missed for good (the broker came back in another
    /// epoch, or further behind than its history): subscribers must resume by themselves.
    var onResyncNeeded: () -> Void = {}
    /// Measured hop cost (see docs/architecture.md): batches and their round trips.
    private(set) var batchesSent: UInt64 = 0
    private(set) var requestsSent: UInt64 = 0
    /// The last seq handed to `onEvent` (for the lag figure).
    private(set) var appliedSeq: UInt64 = 0

    /// Batches go to the broker through one ordered stream and one consuming task, so they are
    /// handled in the order they were sent (separate `Task`s could overtake each other).
    private let batches: AsyncStream<(UInt64, [TaskRequest])>.Continuation

    init(broker: Broker, loop: EventLoop) {
        self.broker = broker
        self.loop = loop
        let (stream, continuation) = AsyncStream.makeStream(of: (UInt64, [TaskRequest]).self)
        batches = continuation
        loop.addEndOfTurnHook { [unowned self] in self.sendBatch() }
        Task { [self] in
            for await (id, requests) in stream {
                await broker.submit(requests, batch: id, from: self)
            }
        }
    }

    func finish() {
        batches.finish()
    }

    /// Queues a request; `completion` runs on the loop with the answer, after every event that
    /// happened before it.
    func request(_ request: TaskRequest, completion: @escaping (TaskReply) -> Void) {
        pendingRequests.append(request)
        pendingCompletions.append(completion)
    }

    private func sendBatch() {
        guard !pendingRequests.isEmpty else { return }
        let requests = pendingRequests
        let id = nextBatch
        nextBatch += 1
        inFlight[id] = pendingCompletions
        pendingRequests.removeAll(keepingCapacity: true)
        pendingCompletions.removeAll(keepingCapacity: true)
        batchesSent += 1
        requestsSent += UInt64(requests.count)
        batches.yield((id, requests))
    }

    private func deliver(batch id: UInt64, _ outputs: [HubOutput]) {
        guard let completions = inFlight.removeValue(forKey: id) else { return }
        for output in outputs {
            switch output {
            case .event(let event): apply(event)
            case .reply(let index, let reply): completions[index](reply)
            }
        }
    }

    private func apply(_ event: PublishedEvent) {
        appliedSeq = event.seq
        onEvent(event)
    }

    // MARK: BrokerReceiver (called by the broker, in seq order)

    func attached(epoch: String, seq: UInt64, missed: [PublishedEvent]?) {
        loop.execute { [self] in
            guard let missed else {
                appliedSeq = seq
                onResyncNeeded()
                return
            }
            for event in missed { apply(event) }
        }
    }

    func complete(batch: UInt64, _ outputs: [HubOutput]) {
        loop.execute { [self] in deliver(batch: batch, outputs) }
    }

    func batchFailed(_ batch: UInt64, reason: String) {
        loop.execute { [self] in
            guard let completions = inFlight.removeValue(forKey: batch) else { return }
            // Never a silent loss: every request of the batch is told it did not happen.
            let refusal = TaskError(status: 503, code: "broker_unavailable", message: "the task broker is unreachable (\(reason)); retry")
            for completion in completions { completion(.failure(refusal)) }
        }
    }

    func publish(_ events: [PublishedEvent]) {
        loop.execute { [self] in
            for event in events { apply(event) }
        }
    }
}
