import HeraldLoop
import HeraldTasks
import HeraldWire

/// A `Broker` in another process (`herald broker`), reached over its Unix socket. Each attached
/// receiver (a server process) gets its own `BrokerLink`: a connection on which its batches
/// are answered in order and the events of others arrive, in seq order. When the connection
/// drops, every unanswered batch fails (the server answers 503 — never a silent loss) and the
/// link reconnects with backoff, resuming from the last seq it received.
public final class UnixSocketBroker: Broker, @unchecked Sendable {
    // @unchecked: `links` is touched on `loop` only; `figures` has its own lock.
    public let path: String
    let loop: EventLoop
    private var links: [ObjectIdentifier: BrokerLink] = [:]
    let figures = Locked(BrokerStatus())
    /// Reconnection backoff: doubles from the first delay up to the cap while the broker is away.
    static let firstReconnectDelay = 0.1
    static let maxReconnectDelay = 2.0
    /// A ping each second; a broker that has not answered for this long is taken for dead (a
    /// stopped or wedged process keeps its socket open, so the kernel would never tell us).
    static let pingInterval = 1.0
    static let pongTimeout = 5.0
    /// Requests queued for a broker that does not read them, past which batches are refused.
    static let maxQueuedRequestBytes = 64 << 20

    public init(path: String, loop: EventLoop) {
        self.path = path
        self.loop = loop
    }

    /// Runs `body` on the broker connections' loop (tests use it to act on the server side).
    public func runOnLoopForTests(_ body: @escaping @Sendable () -> Void) {
        loop.execute(body)
    }

    public var status: BrokerStatus { figures.current }

    public func attach(_ receiver: BrokerReceiver) async throws {
        let key = ObjectIdentifier(receiver)
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, Error>) in
            loop.execute { [self] in
                let link = BrokerLink(broker: self, receiver: receiver, attached: done)
                links[key] = link
                link.connect()
            }
        }
    }

    public func submit(_ requests: [TaskRequest], batch: UInt64, from receiver: BrokerReceiver) async {
        let key = ObjectIdentifier(receiver)
        loop.execute { [self] in
            guard let link = links[key] else {
                receiver.batchFailed(batch, reason: "not attached to the broker at \(path)")
                return
            }
            link.submit(requests, batch: batch)
        }
    }

    func linkGaveUp(_ receiver: BrokerReceiver) {
        links.removeValue(forKey: ObjectIdentifier(receiver))
    }
}

/// One server process's link to the broker, across reconnections. Loop-confined.
final class BrokerLink: ConnectionDelegate {
    private weak var broker: UnixSocketBroker?
    private let path: String
    let loop: EventLoop
    private let figures: Locked<BrokerStatus>
    private let receiver: BrokerReceiver
    private var connection: Connection?
    private var decoder = BrokerFrameDecoder()
    private var input = ByteBuffer()
    private var welcomed = false
    /// The first attach waits for the first welcome; it fails if that never comes.
    private var attachWaiter: CheckedContinuation<Void, Error>?
    /// Batches sent on this connection and not answered yet.
    private var unanswered: Set<UInt64> = []
    /// The last event received and its epoch: a reconnect resumes after it.
    private var lastSeq: UInt64 = 0
    private var epoch = ""
    private var reconnectDelay = UnixSocketBroker.firstReconnectDelay
    private var pingToken: UInt64 = 0
    private var lastPong: UInt64 = 0
    private var pingTimer: TimerID?

    init(broker: UnixSocketBroker, receiver: BrokerReceiver, attached: CheckedContinuation<Void, Error>) {
        self.broker = broker
        path = broker.path
        loop = broker.loop
        figures = broker.figures
        self.receiver = receiver
        attachWaiter = attached
    }

    func connect() {
        input = ByteBuffer()
        decoder = BrokerFrameDecoder()
        do {
            let connection = try UnixSocket.connect(path: path, on: loop)
            connection.delegate = self
            self.connection = connection
            // A first hello has no epoch: there is nothing to resume.
            connection.write(BrokerFrameEncoder.encode(.hello(
                version: BrokerFrame.protocolVersion, processName: "herald", lastSeq: lastSeq, epoch: epoch)))
        } catch {
            lost("cannot reach the broker at \(path): \(error)")
        }
    }

    func submit(_ requests: [TaskRequest], batch: UInt64) {
        guard welcomed, let connection, connection.isOpen else {
            receiver.batchFailed(batch, reason: "not connected to the broker at \(path)")
            return
        }
        // Bounded this way too: a broker that stopped reading gets no more than this queued
        // (the ping timeout then drops the connection); the callers get 503, not a wait.
        guard connection.pendingOutputBytes <= UnixSocketBroker.maxQueuedRequestBytes else {
            receiver.batchFailed(batch, reason: "the broker at \(path) is not reading its requests")
            return
        }
        unanswered.insert(batch)
        connection.write(BrokerFrameEncoder.encode(.requests(batchID: batch, payload: TaskBatchCodec.encode(requests: requests))))
    }

    func connection(_ connection: Connection, didRead bytes: UnsafeRawBufferPointer) {
        guard connection === self.connection else { return }
        input.append(bytes)
        do {
            while let frame = try decoder.next(&input) { try handle(frame) }
        } catch {
            connection.close()
            lost("the broker sent a bad frame: \(error)")
        }
    }

    private func handle(_ frame: BrokerFrame) throws {
        switch frame {
        case .welcome(_, let epoch, let currentSeq, let resumed):
            welcomed(epoch: epoch, currentSeq: currentSeq, resumed: resumed)
        case .outputs(let batch, let payload):
            let outputs = try TaskBatchCodec.decodeOutputs(payload)
            unanswered.remove(batch)
            for case .event(let event) in outputs.reversed() {
                received(event.seq)
                break
            }
            receiver.complete(batch: batch, outputs)
        case .events(let payload):
            let events = try TaskBatchCodec.decodeEvents(payload)
            if let last = events.last { received(last.seq) }
            receiver.publish(events)
        case .refuse(let reason):
            connection?.close()
            lost("the broker refused: \(reason)")
        case .ping(let token):
            connection?.write(BrokerFrameEncoder.encode(.pong(token: token, seq: 0)))
        case .pong(_, let seq):
            lastPong = MonotonicClock.now()
            figures.withLock { $0.headSeq = max($0.headSeq, seq) }
        default:
            break
        }
    }

    private func received(_ seq: UInt64) {
        lastSeq = seq
        figures.withLock { $0.headSeq = max($0.headSeq, seq) }
    }

    private func welcomed(epoch: String, currentSeq: UInt64, resumed: Bool) {
        let first = attachWaiter != nil
        welcomed = true
        reconnectDelay = UnixSocketBroker.firstReconnectDelay
        lastPong = MonotonicClock.now()
        schedulePing()
        let replayed = resumed && currentSeq > lastSeq ? currentSeq - lastSeq : 0
        figures.withLock {
            $0.connected = true
            $0.headSeq = currentSeq
            if !first {
                $0.reconnects += 1
                if resumed { $0.replayedEvents += replayed } else { $0.resyncs += 1 }
            }
        }
        // Resumed: the missed events follow as an ordinary events frame. Not resumed: nothing
        // before `currentSeq` will come, so the receiver resyncs and we go on from there.
        if first || !resumed { lastSeq = currentSeq }
        self.epoch = epoch
        receiver.attached(epoch: epoch, seq: currentSeq, missed: first || resumed ? [] : nil)
        attachWaiter?.resume()
        attachWaiter = nil
    }

    private func schedulePing() {
        if let pingTimer { loop.cancelTimer(pingTimer) }
        pingTimer = loop.scheduleTimer(afterSeconds: UnixSocketBroker.pingInterval) { [weak self] in
            guard let self, self.welcomed, let connection = self.connection, connection.isOpen else { return }
            if Double(MonotonicClock.now() &- self.lastPong) / 1e9 > UnixSocketBroker.pongTimeout {
                connection.close()
                self.lost("the broker has not answered a ping for \(UnixSocketBroker.pongTimeout) s")
                return
            }
            self.pingToken += 1
            connection.write(BrokerFrameEncoder.encode(.ping(token: self.pingToken)))
            self.schedulePing()
        }
    }

    func connectionDidClose(_ connection: Connection) {
        guard connection === self.connection else { return }
        lost("the connection to the broker closed")
    }

    /// The connection is gone (or never came): fail what it carried, then reconnect — or, if
    /// this was the first attach, report that the broker cannot be reached.
    private func lost(_ why: String) {
        connection = nil
        welcomed = false
        if let pingTimer { loop.cancelTimer(pingTimer) }
        pingTimer = nil
        figures.withLock { $0.connected = false }
        for batch in unanswered.sorted() { receiver.batchFailed(batch, reason: why) }
        unanswered.removeAll()
        if let waiter = attachWaiter {
            attachWaiter = nil
            broker?.linkGaveUp(receiver)
            waiter.resume(throwing: BrokerUnavailable(why))
            return
        }
        let delay = reconnectDelay
        reconnectDelay = min(delay * 2, UnixSocketBroker.maxReconnectDelay)
        loop.scheduleTimer(afterSeconds: delay) { [weak self] in self?.connect() }
    }
}
