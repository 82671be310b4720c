import HeraldStore
import HeraldTasks

/// This host's copy of the tasks (a `TaskHub` that only the tail changes) and the batches it
/// sent to Redis that have not come back through the tail yet. Everything that changes the
/// mirror goes through here in the tail's order, so events, replies and resyncs reach the
/// receivers in one order.
actor RedisMirror {
    /// A batch this host committed: answered when its entries come back through the tail (or,
    /// if it numbered nothing, once the mirror has applied what Redis had when it was checked).
    final class OwnBatch: @unchecked Sendable {
        // @unchecked: touched only inside the mirror actor.
        let requests: [TaskRequest]
        let staged: StagedBatch
        let batch: UInt64
        let origin: TaskEventSink
        var answered = false
        var waiter: CheckedContinuation<Void, Never>?

        init(requests: [TaskRequest], staged: StagedBatch, batch: UInt64, origin: TaskEventSink) {
            self.requests = requests
            self.staged = staged
            self.batch = batch
            self.origin = origin
        }

        var numbered: Int { staged.writes.filter { $0.kind != .heartbeat }.count }
    }

    let configuration: TaskHubConfiguration
    let clock: @Sendable () -> Int64
    private(set) var hub: TaskHub
    private(set) var applied: UInt64 = 0
    private(set) var epoch = ""
    private(set) var isLoaded = false
    private var receivers: [TaskEventSink] = []
    private var expected: [String: OwnBatch] = [:]
    private var afterSeq: [(seq: UInt64, commit: String)] = []
    /// Entries of one of our batches that a tail read cut in two.
    private var partial: [CommittedEntry] = []
    private var partialCommit = ""
    private var seqWaiters: [(seq: UInt64, id: Int, continuation: CheckedContinuation<Bool, Never>)] = []
    private var nextWaiterID = 0
    private var loadWaiters: [(id: Int, continuation: CheckedContinuation<Bool, Never>)] = []
    private(set) var resyncs: UInt64 = 0
    /// Entries of a batch already answered 503 that Redis had applied after all (should stay 0).
    private(set) var answeredThenApplied: UInt64 = 0
    let log: @Sendable (String) -> Void

    init(configuration: TaskHubConfiguration, clock: @escaping @Sendable () -> Int64, log: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.clock = clock
        self.log = log
        hub = TaskHub(configuration: configuration, store: NullTaskStore(), clock: clock)
    }

    // MARK: Receivers

    /// Waits until the first load, at most `seconds`; false if it did not come.
    func waitUntilLoaded(seconds: Double) async -> Bool {
        if isLoaded { return true }
        nextWaiterID += 1
        let id = nextWaiterID
        let timer = Task { [weak self] in
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            await self?.timeOutLoadWaiter(id)
        }
        let loaded = await withCheckedContinuation { loadWaiters.append((id, $0)) }
        timer.cancel()
        return loaded
    }

    private func timeOutLoadWaiter(_ id: Int) {
        guard let index = loadWaiters.firstIndex(where: { $0.id == id }) else { return }
        loadWaiters.remove(at: index).continuation.resume(returning: false)
    }

    func add(_ receiver: TaskEventSink) async {
        receivers.append(receiver)
        await hub.addSink(receiver)
    }

    // MARK: From the tail

    func load(_ snapshot: RedisSnapshot, why: String) async {
        let fresh = TaskHub(configuration: configuration, store: NullTaskStore(), clock: clock)
        let skipped = await fresh.loadMirror(tasks: snapshot.tasks, seq: snapshot.seq, epoch: snapshot.epoch, ownerVersions: snapshot.owners,
                                             history: snapshot.history)
        if skipped > 0 { log("\(skipped) tasks in Redis could not be read and were skipped") }
        let resync = isLoaded
        hub = fresh
        applied = snapshot.seq
        epoch = snapshot.epoch
        partial.removeAll()
        if resync {
            resyncs += 1
            log("loaded \(snapshot.tasks.count) tasks from Redis at seq \(snapshot.seq), epoch \(snapshot.epoch): \(why)")
        }
        // Every receiver attaches to the new mirror; after a resync it must resync its subscribers.
        for receiver in receivers { await fresh.addSink(receiver, resumingAfter: resync ? 0 : nil, epoch: "") }
        // Batches whose entries the snapshot already holds will not come through the tail: their
        // committers are woken to answer them from Redis's reply (`waitAnswered`).
        for own in expected.values {
            own.waiter?.resume()
            own.waiter = nil
        }
        isLoaded = true
        for waiter in loadWaiters { waiter.continuation.resume(returning: true) }
        loadWaiters.removeAll()
        wakeSeqWaiters()
        await completeWaitingBatches()
    }

    /// Applies what the tail read; false when the mirror must be loaded again.
    func apply(_ read: [(entry: CommittedEntry, commit: String)]) async -> Bool {
        var index = 0
        while index < read.count {
            let commit = read[index].commit
            if let own = expected[commit], !own.answered {
                // Our batch: its entries, however the tail's reads cut them, are applied together.
                if partialCommit != commit { partial.removeAll(); partialCommit = commit }
                while index < read.count, read[index].commit == commit, partial.count < own.numbered {
                    partial.append(read[index].entry)
                    index += 1
                }
                guard partial.count == own.numbered else { break }
                let entries = partial
                partial.removeAll()
                own.answered = true
                expected[commit] = nil
                do {
                    try await hub.applyOwnBatch(entries, staged: own.staged, requests: own.requests, batch: own.batch, origin: own.origin)
                } catch {
                    log("applying our own batch failed (\(error)); loading the tasks again")
                    own.waiter?.resume()
                    return false
                }
                applied = entries.last!.seq
                await takeHeartbeats(of: own)
                own.waiter?.resume()
                own.waiter = nil
                await completeWaitingBatches()
            } else {
                var run: [CommittedEntry] = []
                while index < read.count, expected[read[index].commit] == nil {
                    if refused.contains(read[index].commit) {
                        answeredThenApplied += 1
                        log("a change answered 503 was applied after all (commit \(read[index].commit), seq \(read[index].entry.seq)): Redis ran it but its answer was lost for the whole --redis-timeout")
                    }
                    run.append(read[index].entry)
                    index += 1
                }
                if run.isEmpty { continue }
                do {
                    try await hub.applyCommitted(run)
                } catch {
                    log("an entry from Redis could not be applied (\(error)); loading the tasks again")
                    return false
                }
                applied = run.last!.seq
                // A batch that numbered nothing is answered as soon as the mirror is where Redis
                // was when it was checked: before any later batch's answer.
                await completeWaitingBatches()
            }
        }
        wakeSeqWaiters()
        await completeWaitingBatches()
        return true
    }

    // MARK: From the committer

    /// Before the commit is sent: its entries may come back through the tail before its reply.
    func expect(_ commit: String, _ own: OwnBatch) {
        expected[commit] = own
    }

    /// The commit was refused (or not sent): nothing will come back for it. `answered503`: its
    /// batch was answered with an error; should its entries ever come, that is counted and logged.
    func forget(_ commit: String, answered503: Bool = false) {
        expected[commit] = nil
        if partialCommit == commit { partial.removeAll() }
        if answered503 {
            refused.insert(commit)
            if refused.count > 10_000 { refused.removeAll() }  // only recent ones can still come
        }
    }

    private var refused = Set<String>()

    /// The commit numbered nothing: answer it once the mirror has applied `seq`.
    func completeAfter(_ commit: String, seq: UInt64) async {
        afterSeq.append((seq, commit))
        await completeWaitingBatches()
    }

    /// Waits until the batch was answered through the tail, at most `seconds`; false if not —
    /// at once when the mirror is already past `last` (a load took the entries in).
    func waitAnswered(_ commit: String, last: UInt64, seconds: Double) async -> Bool {
        guard let own = expected[commit], !own.answered else { return true }
        if applied >= last { return false }
        let timer = Task { [weak self] in
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            await self?.stopWaiting(commit)
        }
        await withCheckedContinuation { own.waiter = $0 }
        timer.cancel()
        if !own.answered && applied < last && isLoaded && expected[commit] === own {
            return await waitAnswered(commit, last: last, seconds: 0.05)  // woken by a load that stopped short
        }
        return own.answered
    }

    private func stopWaiting(_ commit: String) {
        guard let own = expected[commit], let waiter = own.waiter else { return }
        own.waiter = nil
        waiter.resume()
    }

    /// The tail did not bring the batch's entries in time (or a load skipped them): answered from
    /// what Redis said, without its events for the origin (which resyncs or gets them from the tail).
    func answerCommitted(_ commit: String, first: UInt64) {
        guard let own = expected[commit], !own.answered else { return }
        answerCommitted(own, first: first)
        expected[commit] = nil
    }

    private func answerCommitted(_ own: OwnBatch, first: UInt64) {
        own.answered = true
        let replies = own.staged.committedReplies(first: first)
        own.origin.complete(batch: own.batch, replies.enumerated().map { .reply(index: $0, $1) })
        own.waiter?.resume()
        own.waiter = nil
    }

    /// Waits until the mirror has applied `seq`, at most `seconds`; false on timeout.
    func waitApplied(_ seq: UInt64, seconds: Double) async -> Bool {
        if applied >= seq { return true }
        nextWaiterID += 1
        let id = nextWaiterID
        let timer = Task { [weak self] in
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            await self?.timeOutWaiter(id)
        }
        let reached = await withCheckedContinuation { seqWaiters.append((seq, id, $0)) }
        timer.cancel()
        return reached
    }

    private func timeOutWaiter(_ id: Int) {
        guard let index = seqWaiters.firstIndex(where: { $0.id == id }) else { return }
        seqWaiters.remove(at: index).continuation.resume(returning: false)
    }

    private func wakeSeqWaiters() {
        let due = seqWaiters.filter { $0.seq <= applied }
        seqWaiters.removeAll { $0.seq <= applied }
        for waiter in due { waiter.continuation.resume(returning: true) }
    }

    /// Heartbeats make no event, so the tail never brings them: the host that committed one
    /// puts the renewed lease in its own mirror (the others learn it when their sweep's
    /// compare-and-set finds the deadline moved).
    private func takeHeartbeats(of own: OwnBatch) async {
        for write in own.staged.writes where write.kind == .heartbeat {
            await hub.refresh(write.id, json: write.json)
        }
    }

    private func completeWaitingBatches() async {
        let due = afterSeq.filter { $0.seq <= applied }
        afterSeq.removeAll { $0.seq <= applied }
        for (_, commit) in due {
            guard let own = expected.removeValue(forKey: commit), !own.answered else { continue }
            own.answered = true
            await takeHeartbeats(of: own)
            await hub.completeWithoutEntries(staged: own.staged, requests: own.requests, batch: own.batch, origin: own.origin)
            own.waiter?.resume()
            own.waiter = nil
        }
    }
}
