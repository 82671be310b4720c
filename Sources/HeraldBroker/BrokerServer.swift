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
    /// A server process whose unsent output passes this is cut off; it reconnects and resyncs.
    public static let maxPeerQueueBytes = 64 << 20

    /// Listens on `path`; call on the loop's thread.
    public init(loop: EventLoop, broker: LocalBroker, path: String) throws(SystemError) {
        self.loop = loop
        self.broker = broker
        listener = try UnixListener(loop: loop, path: path) { [unowned self] connection in
            let peer = BrokerPeer(server: self, connection: connection)
            connection.delegate = peer
            peers[ObjectIdentifier(peer)] = peer
        }
    }

    public var peerCount: Int { peers.count }

    /// For tests: the broker behind the socket.
    public var localBrokerForTests: LocalBroker { broker }

    public func close() {
        listener?.close()
        listener = nil
        for peer in peers.values { peer.connection.close() }
    }
}

/// One connected server process.
final class BrokerPeer: ConnectionDelegate, BrokerReceiver, @unchecked Sendable {
    // @unchecked: loop-confined, except `publish`, which only hops onto the loop.
    unowned let server: BrokerServer
    let connection: Connection
    private var decoder = BrokerFrameDecoder()
    private var input = ByteBuffer()
    private var greeted = false
    private var closed = false
    /// Batches go to the broker in the order they arrived, through one consuming task.
    private let batches: AsyncStream<(UInt64, [TaskRequest])>.Continuation

    init(server: BrokerServer, connection: Connection) {
        self.server = server
        self.connection = connection
        let (stream, continuation) = AsyncStream.makeStream(of: (UInt64, [TaskRequest]).self)
        batches = continuation
        let broker = server.broker
        let loop = server.loop
        Task { [self] in
            for await (id, requests) in stream {
                let outputs = (try? await broker.submit(requests, from: self)) ?? []
                let payload = TaskBatchCodec.encode(outputs: outputs)
                loop.execute { [self] in send(.outputs(batchID: id, payload: payload)) }
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
        case .hello(let version, _, _, _):
            guard version == BrokerFrame.protocolVersion else {
                refuse("protocol version \(version) is not \(BrokerFrame.protocolVersion)")
                return
            }
            let broker = server.broker
            let loop = server.loop
            Task { [self] in
                // Events flow from the moment the welcome is queued: attach first, then answer.
                try? await broker.attach(self)
                let seq = await broker.hub.seq
                let epoch = await broker.hub.epoch
                loop.execute { [self] in
                    greeted = true
                    send(.welcome(version: BrokerFrame.protocolVersion, epoch: epoch, currentSeq: seq))
                }
            }
        case .requests(let batchID, let payload):
            guard greeted else { return refuse("requests before hello") }
            do {
                batches.yield((batchID, try TaskBatchCodec.decodeRequests(payload)))
            } catch {
                refuse("bad requests: \(error.message)")
            }
        case .ping(let token):
            send(.pong(token: token))
        default:
            refuse("unexpected \(frame.type.name) frame")
        }
    }

    func publish(_ events: [PublishedEvent]) {
        let payload = TaskBatchCodec.encode(events: events)
        server.loop.execute { [self] in send(.events(payload: payload)) }
    }

    private func send(_ frame: BrokerFrame) {
        guard connection.isOpen else { return }
        connection.write(BrokerFrameEncoder.encode(frame))
        if connection.pendingOutputBytes > BrokerServer.maxPeerQueueBytes {
            connection.close()  // stuck: it reconnects and resyncs instead of growing our memory
        }
    }

    private func refuse(_ reason: String) {
        send(.refuse(reason: reason))
        connection.closeAfterFlush()
    }

    func connectionDidClose(_ connection: Connection) {
        closed = true
        batches.finish()
        server.peers.removeValue(forKey: ObjectIdentifier(self))
        let broker = server.broker
        Task { [self] in await broker.detach(self) }  // or every reconnect would leave a sink behind
    }
}
