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

    /// Batches go to the broker through one ordered queue and one consuming task, so they are
    /// handled in the order they were sent (separate `Task`s could overtake each other).
    private let batches = BatchQueue()

    init(broker: Broker, loop: EventLoop) {
        self.broker = broker
        self.loop = loop
        loop.addEndOfTurnHook { [unowned self] in self.sendBatch() }
        Task { [self, batches] in
            while let sent = await batches.next() {
                for batch in sent { await broker.submit(batch.requests, batch: batch.id, from: self) }
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
        batches.push((id, requests))
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

/// The batches on their way to the broker, oldest first: a list under a lock that one consuming
/// task takes whole. Not an `AsyncStream`: its `yield` and `next` run unspecialized (generic
/// metadata, `removeFirst` on an opaque element: ~7k instructions per batch on the loop and
/// more on the consumer, callgrind S7), where `push` is a lock, an append and, when the
/// consumer waits, one resume. Same contract as the stream it replaces: order kept, batches
/// pushed before `finish` are still handed out, batches pushed after it are dropped.
final class BatchQueue: @unchecked Sendable {
    // @unchecked: `items`, `waiter` and `finished` are only touched under `mutex`.
    typealias Batch = (id: UInt64, requests: [TaskRequest])
    private let mutex = PThreadMutex()
    private var items: [Batch] = []
    private var waiter: CheckedContinuation<Void, Never>?
    private var finished = false

    /// Queues `batch` and wakes the consumer when it waits.
    func push(_ batch: Batch) {
        let waiter: CheckedContinuation<Void, Never>? = mutex.withLock {
            guard !finished else { return nil }
            items.append(batch)
            return takeWaiter()
        }
        waiter?.resume()
    }

    /// No more batches: `next` hands out what is queued, then nil.
    func finish() {
        let waiter: CheckedContinuation<Void, Never>? = mutex.withLock {
            finished = true
            return takeWaiter()
        }
        waiter?.resume()
    }

    /// Every batch queued so far, oldest first, after waiting for one when there is none; nil
    /// once finished and empty. One consumer at a time.
    func next() async -> [Batch]? {
        while true {
            let taken: [Batch]? = mutex.withLock {
                if !items.isEmpty {
                    defer { items = [] }
                    return items
                }
                return finished ? [] : nil
            }
            if let taken { return taken.isEmpty ? nil : taken }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // Registered under the lock, so a push between the check above and here is
                // seen (then it resumes at once) rather than lost.
                let ready = mutex.withLock {
                    guard items.isEmpty, !finished else { return true }
                    waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }

    private func takeWaiter() -> CheckedContinuation<Void, Never>? {
        defer { waiter = nil }
        return waiter
    }
}
