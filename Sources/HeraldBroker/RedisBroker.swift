import Glibc
import HeraldLoop
import HeraldRedis
import HeraldTasks

/// The broker for several hosts (`herald serve --redis URL`): every process on every host
/// keeps a mirror of the tasks (RedisMirror) that only Redis's event stream changes (RedisTail),
/// computes each batch on it with the one implementation of the lifecycle, and commits it with
/// the compare-and-set script (RedisTaskScripts); a batch computed from a state that changed
/// meanwhile is computed again. docs/architecture.md, "Several hosts: Redis", has the design.
public final class RedisBroker: Broker, @unchecked Sendable {
    // @unchecked: the clients and the tail live on `loop`; the mirror is an actor; the
    // committer runs on one task; `figures` has its own lock.
    public struct Configuration: Sendable {
        public var endpoint: RedisEndpoint
        public var prefix: String
        /// `--redis-timeout`: a command's answer, a commit's deadline.
        public var timeout: Double
        public var tasks: TaskHubConfiguration
        /// How often this host sweeps leases, deadlines and retention (every host does; the
        /// compare-and-set makes each change happen once).
        public var sweepInterval: Double
        public var name: String

        public init(endpoint: RedisEndpoint, prefix: String = "herald", timeout: Double = 3,
                    tasks: TaskHubConfiguration = TaskHubConfiguration(), sweepInterval: Double = 0.25, name: String = "herald") {
            self.endpoint = endpoint
            self.prefix = prefix
            self.timeout = timeout
            self.tasks = tasks
            self.sweepInterval = sweepInterval
            self.name = name
        }
    }

    /// A batch computed again after this many conflicts in a row is refused with 503 (the
    /// tasks it touches change faster than a round trip to Redis).
    static let maxAttempts = 50

    public let configuration: Configuration
    public let loop: EventLoop
    let keys: RedisTaskKeys
    let commands: RedisClient
    let tail: RedisTail
    let mirror: RedisMirror
    private let clockOffset = Locked<Int64>(0)
    private let figures = Locked(BrokerStatus())
    private let jobs: AsyncStream<Job>.Continuation
    private let tailEvents: AsyncStream<TailEvent>.Continuation
    public var onLog: @Sendable (String) -> Void

    enum Job: Sendable {
        case submit([TaskRequest], UInt64, BrokerReceiverBox)
        case sweep
    }

    struct BrokerReceiverBox: @unchecked Sendable {
        let receiver: BrokerReceiver
    }

    /// `log` gets what went wrong (warnings), `info` the connects.
    public init(configuration: Configuration, loop: EventLoop, log: @escaping @Sendable (String) -> Void = { _ in },
                info: @escaping @Sendable (String) -> Void = { _ in }) {
        self.configuration = configuration
        self.loop = loop
        onLog = log
        keys = RedisTaskKeys(prefix: configuration.prefix)
        var commandConfig = RedisClient.Configuration(endpoint: configuration.endpoint, timeout: configuration.timeout,
                                                      name: "\(configuration.name)-\(getpid())")
        commands = RedisClient(configuration: commandConfig, loop: loop)
        commands.scripts = [RedisTaskScripts.commit]
        // The tail's XREAD blocks up to a second: its deadline is that much longer.
        commandConfig.timeout = configuration.timeout + Double(RedisTail.readBlockMilliseconds) / 1000
        commandConfig.name = "\(configuration.name)-tail-\(getpid())"
        let tailClient = RedisClient(configuration: commandConfig, loop: loop)
        tailClient.scripts = [RedisTaskScripts.hello, RedisTail.snapshotScript]
        let offset = clockOffset
        mirror = RedisMirror(configuration: configuration.tasks, clock: { TaskHub.wallClockMilliseconds() + offset.withLock { $0 } },
                             log: log)
        let (events, tailContinuation) = AsyncStream.makeStream(of: TailEvent.self)
        tailEvents = tailContinuation
        tail = RedisTail(client: tailClient, keys: keys, history: configuration.tasks.historySize, onEvent: { tailContinuation.yield($0) }, log: log)
        let (jobStream, jobContinuation) = AsyncStream.makeStream(of: Job.self)
        jobs = jobContinuation
        Task { [self] in
            for await event in events { await self.handleTail(event) }
        }
        Task { [self] in
            for await job in jobStream { await self.run(job) }
        }
        for client in [commands, tailClient] {
            client.onLog = { log("redis: \($0)") }
            client.onInfo = { info("redis: \($0)") }
        }
        let figures = figures
        commands.onReady = { [weak self] in
            figures.withLock { $0.connected = true }
            self?.measureClock()
        }
        commands.onDown = { _ in figures.withLock { $0.connected = false; $0.reconnects += 1 } }
        loop.execute { [self] in
            commands.start()
            tailClient.start()
            scheduleSweep()
        }
    }

    // MARK: Broker

    public func attach(_ receiver: BrokerReceiver) async throws {
        guard await mirror.waitUntilLoaded(seconds: configuration.timeout) else {
            throw BrokerUnavailable("Redis at \(configuration.endpoint) could not be reached within --redis-timeout \(configuration.timeout) s")
        }
        await mirror.add(receiver)
    }

    public func submit(_ requests: [TaskRequest], batch: UInt64, from receiver: BrokerReceiver) async {
        jobs.yield(.submit(requests, batch, BrokerReceiverBox(receiver: receiver)))
    }

    public var status: BrokerStatus {
        figures.withLock { $0 }
    }

    // MARK: The tail's side

    private func handleTail(_ event: TailEvent) async {
        switch event {
        case .loaded(let snapshot, let why):
            await mirror.load(snapshot, why: why)
            let resyncs = await mirror.resyncs
            figures.withLock { $0.resyncs = resyncs; $0.headSeq = max($0.headSeq, snapshot.seq) }
        case .entries(let read):
            let ok = await mirror.apply(read)
            if let last = read.last { figures.withLock { $0.headSeq = max($0.headSeq, last.entry.seq) } }
            if !ok { loop.execute { [self] in self.tail.resync("an entry could not be applied") } }
        }
    }

    // MARK: Commits

    private func run(_ job: Job) async {
        switch job {
        case .submit(let requests, let batch, let box):
            await commit(requests, batch: batch, origin: box.receiver)
        case .sweep:
            await sweep()
        }
    }

    /// Computes the batch on the mirror, commits it, and leaves the answer to the mirror (which
    /// gives it when the batch's entries come back through the tail); a conflict computes it
    /// again, an unreachable Redis answers 503 and applies nothing.
    private func commit(_ requests: [TaskRequest], batch: UInt64, origin: BrokerReceiver) async {
        var attempt = 0
        while true {
            attempt += 1
            let hub = await mirror.hub
            let epoch = await mirror.epoch
            let staged = await hub.stage(requests)
            var commit = RedisCommit(epoch: epoch)
            commit.deadlineMilliseconds = redisNow() + Int64(configuration.timeout * 1000)
            commit.history = configuration.tasks.historySize
            fill(&commit, from: staged)
            let own = RedisMirror.OwnBatch(requests: requests, staged: staged, batch: batch, origin: origin)
            await mirror.expect(commit.commitID, own)
            switch await send(commit) {
            case .committed(let first, let last):
                if first == 0 {
                    await mirror.completeAfter(commit.commitID, seq: last)
                } else if !(await mirror.waitAnswered(commit.commitID, last: last, seconds: 2 * configuration.timeout)) {
                    await mirror.answerCommitted(commit.commitID, first: first)
                }
                return
            case .conflict(let seq) where attempt < Self.maxAttempts:
                await mirror.forget(commit.commitID)
                _ = await mirror.waitApplied(seq, seconds: configuration.timeout)
                if !staged.due.isEmpty { await refresh(staged.due) }
            case .otherEpoch where attempt < Self.maxAttempts:
                await mirror.forget(commit.commitID)
                loop.execute { [self] in self.tail.resync("a commit found another epoch in Redis") }
                try? await Task.sleep(nanoseconds: 50_000_000)
            case .conflict, .otherEpoch:
                await mirror.forget(commit.commitID, answered503: true)
                refuse(requests, batch: batch, origin: origin, why: "the tasks changed \(attempt) times while this change was being made; retry")
                return
            case .late:
                await mirror.forget(commit.commitID, answered503: true)
                refuse(requests, batch: batch, origin: origin, why: "Redis did not answer within --redis-timeout \(configuration.timeout) s; nothing was changed")
                return
            case .failed(let why):
                await mirror.forget(commit.commitID, answered503: true)
                refuse(requests, batch: batch, origin: origin, why: why)
                return
            }
        }
    }

    enum SendOutcome {
        case committed(first: UInt64, last: UInt64)
        case conflict(seq: UInt64)
        case otherEpoch
        case late
        case failed(String)
    }

    /// Sends the commit; an answer lost on the way (timeout, a dropped connection) is asked
    /// again with the same commit id — the script answers a commit it ran with its first result,
    /// and refuses one that reaches it after its deadline — until Redis's clock has passed the
    /// deadline; so an error always means "not applied".
    private func send(_ commit: RedisCommit) async -> SendOutcome {
        while true {
            switch await call(commit.command(keys: keys)) {
            case .success(let value):
                switch RedisCommit.outcome(value) {
                case .committed(let first, let last): return .committed(first: first, last: last)
                case .conflict(let seq): return .conflict(seq: seq)
                case .otherEpoch: return .otherEpoch
                case .late: return .late
                case nil:
                    onLog("redis: an unexpected answer to a commit: \(value)")
                    return .failed("Redis gave an unexpected answer; nothing was changed")
                }
            case .failure(.server(let message)):
                return .failed("Redis refused the change (\(message)); nothing was changed")
            case .failure(let error):
                // Past the deadline Redis refuses this commit, so giving up now cannot be
                // contradicted by a late arrival. Before it, ask again with the same commit id:
                // Redis answers one it already ran with its first result. (Only a commit that
                // Redis ran and whose answer was then lost for the whole --redis-timeout — a
                // partition right after it — can be applied although answered 503; its entries
                // would then come through the tail, and the mirror logs it.)
                if redisNow() > commit.deadlineMilliseconds {
                    return .failed(error.certainlyNotApplied
                        ? "Redis is unavailable (\(error)); nothing was changed"
                        : "Redis did not answer within --redis-timeout \(configuration.timeout) s; the change was not applied")
                }
                try? await Task.sleep(nanoseconds: 50_000_000)
            }
        }
    }

    private func fill(_ commit: inout RedisCommit, from staged: StagedBatch) {
        commit.taskSeqs = staged.taskSeqs.map { ($0.key, $0.value) }
        commit.ownerVersions = staged.ownerVersions.map { ($0.key, $0.value) }
        commit.due = staged.due
        commit.writes = staged.writes.map { write in
            let kind: RedisCommit.Kind
            let event: String
            switch write.kind {
            case .task(let name): kind = .task; event = name.rawValue
            case .removed: kind = .removed; event = "removed"
            case .heartbeat: kind = .heartbeat; event = ""
            }
            return RedisCommit.Write(kind: kind, id: write.id, owner: write.owner, event: event,
                                     before: kind == .heartbeat ? write.json : write.jsonBeforeSeq,
                                     after: Array("}".utf8), deadline: write.deadline.map { .set($0) } ?? .drop,
                                     bumpsOwner: write.changesOwnerActivity)
        }
    }

    private func refuse(_ requests: [TaskRequest], batch: UInt64, origin: BrokerReceiver, why: String) {
        let refusal = TaskError(status: 503, code: "storage_unavailable", message: why)
        Task { [mirror] in
            let hub = await mirror.hub
            await hub.completeRefused(requests, refusal: refusal, batch: batch, origin: origin)
        }
    }

    /// Tasks a sweep found due whose deadline Redis says is not: another host's heartbeat
    /// renewed them (heartbeats make no event), so the mirror takes their records from Redis.
    private func refresh(_ ids: [String]) async {
        let command = RedisCommand([Array("HMGET".utf8), keys.tasks] + ids.map { Array($0.utf8) })
        guard case .success(let value) = await call(command), let records = value.array else { return }
        let hub = await mirror.hub
        for (id, record) in zip(ids, records) {
            if let json = record.bytes { await hub.refresh(id, json: json) }
        }
    }

    // MARK: Sweep

    private var sweepQueued = Locked(false)

    private func scheduleSweep() {
        loop.scheduleTimer(afterSeconds: configuration.sweepInterval) { [weak self] in
            guard let self else { return }
            if self.sweepQueued.withLock({ queued in defer { queued = true }; return !queued }) { self.jobs.yield(.sweep) }
            self.scheduleSweep()
        }
    }

    private func sweep() async {
        defer { sweepQueued.withLock { $0 = false } }
        guard await mirror.isLoaded else { return }
        let hub = await mirror.hub
        let staged = await hub.stage([], tick: true)
        guard !staged.writes.isEmpty else { return }
        var commit = RedisCommit(epoch: await mirror.epoch)
        commit.deadlineMilliseconds = redisNow() + Int64(configuration.timeout * 1000)
        commit.history = configuration.tasks.historySize
        fill(&commit, from: staged)
        switch await send(commit) {
        case .conflict(let seq):
            _ = await mirror.waitApplied(seq, seconds: configuration.timeout)
            await refresh(staged.due)
        default:
            break  // committed: the tail brings the changes to every host; anything else: the next sweep
        }
    }

    // MARK: Redis I/O

    func call(_ command: RedisCommand) async -> Result<RedisValue, RedisError> {
        await withCheckedContinuation { continuation in
            loop.execute { [commands] in commands.send(command) { continuation.resume(returning: $0) } }
        }
    }

    /// Milliseconds on Redis's clock (our wall clock plus the measured offset).
    func redisNow() -> Int64 {
        TaskHub.wallClockMilliseconds() + clockOffset.withLock { $0 }
    }

    private var clockTimerPending = false  // on the loop

    /// Measures Redis `TIME` against our clock after each connect (and every 10 s), so every
    /// host dates tasks and deadlines on one clock.
    private func measureClock() {
        let sent = TaskHub.wallClockMilliseconds()
        commands.send(RedisCommand("TIME")) { [weak self] result in
            guard let self else { return }
            let received = TaskHub.wallClockMilliseconds()
            if case .success(let value) = result, let parts = value.array, parts.count == 2,
               let seconds = parts[0].int, let micros = parts[1].int {
                let redis = seconds * 1000 + micros / 1000
                self.clockOffset.withLock { $0 = redis - (sent + received) / 2 }
            }
            guard !self.clockTimerPending else { return }
            self.clockTimerPending = true
            self.loop.scheduleTimer(afterSeconds: 10) { [weak self] in
                guard let self else { return }
                self.clockTimerPending = false
                if self.commands.isReady { self.measureClock() }
            }
        }
    }
}
