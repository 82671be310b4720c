import HeraldLoop
import HeraldTasks
import HeraldWire

/// `herald broker`'s side of the Unix socket: each connected server process is a `BrokerPeer`
/// that submits batches to the local broker (the task actor) and receives every event it did
/// not cause. Runs on one loop.
public final class BrokerServer: @unchecked Sendable {
    // @unchecked: loop-confined except `broker`, which is Sendable.
    let loop: EventLoop
    let broker: LocalBroker
    private var listener: UnixListener?
    var peers: [ObjectIdentifier: BrokerPeer] = [:]
    /// A server process whose unsent output passes this is cut off; it reconnects and resumes
    /// from its last seq (or resyncs), instead of growing the broker's memory without bound.
    public let maxPeerQueueBytes: Int
    public static let defaultMaxPeerQueueBytes = 64 << 20
    /// Server processes cut off for being too far behind.
    public internal(set) var peersCutOff = 0
    public var onPeerCutOff: (Int) -> Void = { _ in }
    /// The latest seq that passed through here, for pongs (servers measure their lag with it).
    private(set) var headSeq: UInt64 = 0

    func noteSeq(_ seq: UInt64) {
        if seq > headSeq { headSeq = seq }
    }

    /// Listens on `path`; call on the loop's thread.
    public init(loop: EventLoop, broker: LocalBroker, path: String,
                maxPeerQueueBytes: Int = BrokerServer.defaultMaxPeerQueueBytes) throws(SystemError) {
        self.loop = loop
        self.broker = broker
        self.maxPeerQueueBytes = maxPeerQueueBytes
        listener = try UnixListener(loop: loop, path: path) { [unowned self] connection in
            let peer = BrokerPeer(server: self, connection: connection)
            connection.delegate = peer
            peers[ObjectIdentifier(peer)] = peer
        }
    }

    public var peerCount: Int { peers.count }

    /// For tests: the loop it runs on.
    public var loopForTests: EventLoop { loop }

    /// For tests: the broker behind the socket.
    public var localBrokerForTests: LocalBroker { broker }

    /// For tests: drops every server process's connection (they reconnect by themselves).
    public func dropPeersForTests() {
        for peer in peers.values { peer.connection.close() }
    }

    public func close() {
        listener?.close()
        listener = nil
        for peer in peers.values { peer.connection.close() }
    }
}

/// One connected server process. The actor calls `attached`, `complete` and `publish` in seq
/// order from inside itself; each becomes one `loop.execute`, so frames leave in that order.
final class BrokerPeer: ConnectionDelegate, TaskEventSink, @unchecked Sendable {
    // @unchecked: loop-confined, except the sink calls, which only hop onto the loop.
    /// Weak: the actor may still call a peer whose server is gone (a test closing one).
    private weak var server: BrokerServer?
    private let loop: EventLoop
    private let broker: LocalBroker
    let connection: Connection
    private var decoder = BrokerFrameDecoder()
    private var input = ByteBuffer()
    private var helloReceived = false
    private var greeted = false
    /// Batches go to the broker in the order they arrived, through one consuming task.
    private let batches: AsyncStream<(UInt64, [TaskRequest])>.Continuation

    init(server: BrokerServer, connection: Connection) {
        self.server = server
        loop = server.loop
        broker = server.broker
        self.connection = connection
        let (stream, continuation) = AsyncStream.makeStream(of: (UInt64, [TaskRequest]).self)
        batches = continuation
        let broker = server.broker
        Task { [self] in
            for await (id, requests) in stream {
                await broker.handle(requests, batch: id, from: self)
            }
        }
    }

    func connection(_ connection: Connection, didRead bytes: UnsafeRawBufferPointer) {
        input.append(bytes)
        do {
            while let frame = try decoder.next(&input) { handle(frame) }
        } catch {
            refuse("bad frame: \(error.message)")
        }
    }

    private func handle(_ frame: BrokerFrame) {
        switch frame {
        case .hello(let version, _, let lastSeq, let epoch):
            guard version == BrokerFrame.protocolVersion else {
                refuse("protocol version \(version) is not \(BrokerFrame.protocolVersion)")
                return
            }
            guard !helloReceived else { return refuse("a second hello") }
            helloReceived = true
            let broker = self.broker
            // An empty epoch: a process that has seen nothing yet.
            Task { [self] in await broker.attach(self, resumingAfter: epoch.isEmpty ? nil : lastSeq, epoch: epoch) }
        case .requests(let batchID, let payload):
            guard greeted else { return refuse("requests before the welcome") }
            do {
                batches.yield((batchID, try TaskBatchCodec.decodeRequests(payload)))
            } catch {
                refuse("bad requests: \(error.message)")
            }
        case .ping(let token):
            send(.pong(token: token, seq: server?.headSeq ?? 0))
        case .pong:
            break
        default:
            refuse("unexpected \(frame.type.name) frame")
        }
    }

    // MARK: TaskEventSink (called on the actor)

    func attached(epoch: String, seq: UInt64, missed: [PublishedEvent]?) {
        loop.execute { [self] in
            greeted = true
            server?.noteSeq(seq)
            send(.welcome(version: BrokerFrame.protocolVersion, epoch: epoch, currentSeq: seq, resumed: missed != nil))
            if let missed, !missed.isEmpty { send(.events(payload: TaskBatchCodec.encode(events: missed))) }
        }
    }

    func complete(batch: UInt64, _ outputs: [HubOutput]) {
        loop.execute { [self] in
            for case .event(let event) in outputs.reversed() {
                server?.noteSeq(event.seq)
                break
            }
            send(.outputs(batchID: batch, payload: TaskBatchCodec.encode(outputs: outputs)))
        }
    }

    func publish(_ events: [PublishedEvent]) {
        loop.execute { [self] in
            if let last = events.last { server?.noteSeq(last.seq) }
            send(.events(payload: TaskBatchCodec.encode(events: events)))
        }
    }

    private func send(_ frame: BrokerFrame) {
        guard connection.isOpen else { return }
        connection.write(BrokerFrameEncoder.encode(frame))
        // Only a peer that is not reading counts: a burst queued during one turn (or one big
        // replay) is flushed at its end; output left over from earlier turns is not.
        let cap = server?.maxPeerQueueBytes ?? BrokerServer.defaultMaxPeerQueueBytes
        if connection.isWaitingForWritable && connection.pendingOutputBytes > cap {
            // Stuck: it reconnects and resumes (or resyncs) instead of growing our memory.
            server?.peersCutOff += 1
            server?.onPeerCutOff(connection.pendingOutputBytes)
            connection.discardPendingOutput()
            connection.close()
        }
    }

    private func refuse(_ reason: String) {
        send(.refuse(reason: reason))
        connection.closeAfterFlush()
    }

    func connectionDidClose(_ connection: Connection) {
        batches.finish()
        server?.peers.removeValue(forKey: ObjectIdentifier(self))
        let broker = self.broker
        Task { [self] in await broker.detach(self) }  // or every reconnect would leave a sink behind
    }
}
