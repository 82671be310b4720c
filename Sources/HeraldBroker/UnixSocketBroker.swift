import HeraldLoop
import HeraldTasks
import HeraldWire

/// A `Broker` in another process (`herald broker`), reached over its Unix socket. Each attached
/// receiver (a server process) gets its own connection; batches are answered in order on it,
/// and events caused by others arrive on it. When the connection drops, every waiting batch
/// fails with `BrokerUnavailable` (the server answers 503) — never a silent loss.
public final class UnixSocketBroker: Broker, @unchecked Sendable {
    // @unchecked: the connections are touched on `loop` only.
    public let path: String
    let loop: EventLoop
    private var clients: [ObjectIdentifier: BrokerClient] = [:]
    /// Reconnection backoff: doubles from the first delay up to the cap while the broker is away.
    static let firstReconnectDelay = 0.1
    static let maxReconnectDelay = 2.0

    public init(path: String, loop: EventLoop) {
        self.path = path
        self.loop = loop
    }

    /// Runs `body` on the broker connections' loop (tests use it to act on the server side).
    public func runOnLoopForTests(_ body: @escaping @Sendable () -> Void) {
        loop.execute(body)
    }

    public func attach(_ receiver: BrokerReceiver) async throws {
        let key = ObjectIdentifier(receiver)
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, Error>) in
            loop.execute { [self] in
                do {
                    let client = try BrokerClient(path: path, loop: loop, receiver: receiver, welcomed: done)
                    client.onClose = { [weak self] in self?.reconnect(key, receiver: receiver, after: Self.firstReconnectDelay) }
                    clients[key] = client
                } catch {
                    done.resume(throwing: BrokerUnavailable("cannot reach the broker at \(path): \(error)"))
                }
            }
        }
    }

    /// After a lost connection: try again with backoff; once welcomed, tell the receiver.
    private func reconnect(_ key: ObjectIdentifier, receiver: BrokerReceiver, after delay: Double) {
        loop.scheduleTimer(afterSeconds: delay) { [weak self] in
            guard let self else { return }
            do {
                let client = try BrokerClient(path: path, loop: loop, receiver: receiver, welcomed: nil)
                client.onWelcome = { receiver.brokerReconnected() }
                client.onClose = { [weak self] in
                    self?.reconnect(key, receiver: receiver, after: min(delay * 2, Self.maxReconnectDelay))
                }
                clients[key] = client
            } catch {
                reconnect(key, receiver: receiver, after: min(delay * 2, Self.maxReconnectDelay))
            }
        }
    }

    public func submit(_ requests: [TaskRequest], from receiver: BrokerReceiver) async throws -> [HubOutput] {
        let key = ObjectIdentifier(receiver)
        return try await withCheckedThrowingContinuation { (answer: CheckedContinuation<[HubOutput], Error>) in
            loop.execute { [self] in
                guard let client = clients[key], client.isUsable else {
                    answer.resume(throwing: BrokerUnavailable("not connected to the broker at \(path)"))
                    return
                }
                client.submit(requests, answer: answer)
            }
        }
    }
}

/// One connection to the broker, on the loop.
final class BrokerClient: ConnectionDelegate {
    private let connection: Connection
    private let receiver: BrokerReceiver
    private var decoder = BrokerFrameDecoder()
    private var input = ByteBuffer()
    private var welcomed: CheckedContinuation<Void, Error>?
    private var waiting: [UInt64: CheckedContinuation<[HubOutput], Error>] = [:]
    private var nextBatch: UInt64 = 1
    private(set) var epoch = ""
    private(set) var isUsable = false
    var onWelcome: () -> Void = {}
    var onClose: () -> Void = {}
    private var closeReported = false

    init(path: String, loop: EventLoop, receiver: BrokerReceiver, welcomed: CheckedContinuation<Void, Error>?) throws {
        connection = try UnixSocket.connect(path: path, on: loop)
        self.receiver = receiver
        self.welcomed = welcomed
        connection.delegate = self
        connection.write(BrokerFrameEncoder.encode(.hello(version: BrokerFrame.protocolVersion, processName: "herald", lastSeq: 0, epoch: "")))
    }

    func submit(_ requests: [TaskRequest], answer: CheckedContinuation<[HubOutput], Error>) {
        let id = nextBatch
        nextBatch += 1
        waiting[id] = answer
        connection.write(BrokerFrameEncoder.encode(.requests(batchID: id, payload: TaskBatchCodec.encode(requests: requests))))
    }

    func connection(_ connection: Connection, didRead bytes: UnsafeRawBufferPointer) {
        input.append(bytes)
        do {
            while let frame = try decoder.next(&input) { try handle(frame) }
        } catch {
            fail("the broker sent a bad frame: \(error)")
            connection.close()
        }
    }

    private func handle(_ frame: BrokerFrame) throws {
        switch frame {
        case .welcome(_, let epoch, _):
            self.epoch = epoch
            isUsable = true
            welcomed?.resume()
            welcomed = nil
            onWelcome()
        case .outputs(let batchID, let payload):
            let outputs = try TaskBatchCodec.decodeOutputs(payload)
            waiting.removeValue(forKey: batchID)?.resume(returning: outputs)
        case .events(let payload):
            receiver.publish(try TaskBatchCodec.decodeEvents(payload))
        case .refuse(let reason):
            fail("the broker refused: \(reason)")
            connection.close()
        case .ping(let token):
            connection.write(BrokerFrameEncoder.encode(.pong(token: token)))
        default:
            break
        }
    }

    private func fail(_ why: String) {
        isUsable = false
        welcomed?.resume(throwing: BrokerUnavailable(why))
        welcomed = nil
        let pending = waiting
        waiting.removeAll()
        for (_, answer) in pending { answer.resume(throwing: BrokerUnavailable(why)) }
    }

    func connectionDidClose(_ connection: Connection) {
        fail("the connection to the broker closed")
        guard !closeReported else { return }
        closeReported = true
        onClose()
    }
}
