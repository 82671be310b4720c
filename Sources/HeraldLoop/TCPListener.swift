import CHeraldLinux
import Glibc

/// A listening TCP socket on a loop: accepts with accept4 until EAGAIN and hands each new
/// connection to `onAccept`, unless its `gate` refuses the socket first.
public final class TCPListener: IOHandler {
    public let loop: EventLoop
    public let host: String
    /// The bound port (the real one when 0 was asked for).
    public private(set) var port: Int = 0
    private let fd: Int32
    private var registrationID: UInt64 = 0
    private let onAccept: (Connection) -> Void
    private var closed = false
    /// Asked about every accepted socket before anything is spent on it; nil admits all.
    public var gate: ConnectionGate?
    /// Set: every accepted connection speaks TLS with this context (swapped on a reload; open
    /// connections keep the one they started with).
    public var tls: TLSContext?
    /// Pauses of accepting (out of fds or memory) so far.
    public private(set) var pauses = AcceptPauses()
    /// Told, on the loop thread, when accepting pauses after having worked (an episode of
    /// exhaustion starts), with the error behind it; the server logs it.
    public var onPause: ((SystemError) -> Void)?
    /// accept4; tests replace it to make accepting fail.
    var accept: AcceptLoop.AcceptFunction = AcceptLoop.systemAccept

    public init(
        loop: EventLoop, host: String, port: Int, backlog: Int32 = 1024, reusePort: Bool = false,
        onAccept: @escaping (Connection) -> Void
    ) throws(SystemError) {
        self.loop = loop
        self.host = host
        self.onAccept = onAccept
        let address = try SocketAddress.resolve(host: host, port: port)
        fd = try Syscall.retrying("socket") {
            socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do {
            try Syscall.setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if reusePort { try Syscall.setInt(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
            _ = try address.withSockAddr { sa, len throws(SystemError) in
                try Syscall.retrying("bind") { bind(fd, sa, len) }
            }
            _ = try Syscall.retrying("listen") { listen(fd, backlog) }
            self.port = try SocketAddress.localPort(of: fd)
            registrationID = try loop.register(fd: fd, interest: .read, handler: self)
        } catch {
            Syscall.close(fd)
            throw error
        }
    }

    /// Stops accepting; established connections are not touched.
    public func close() {
        guard !closed else { return }
        closed = true
        loop.deregister(fd: fd, id: registrationID)
        Syscall.close(fd)
    }

    func handle(events: UInt32) {
        let outcome = AcceptLoop.acceptPending(fd: fd, accept: accept, isClosed: { [unowned self] in closed }) { client, storage in
            pauses.inEpisode = false
            let address = PeerAddress(storage)
            if let gate, case .refuse(let response) = gate.admit(address) {
                AcceptLoop.refuse(client, with: response, scratch: loop.readBuffer)
                return
            }
            // Responses are flushed once per turn already; Nagle would only add delay.
            try? Syscall.setInt(client, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            let peer = SocketAddress.describe(storage)
            do {
                let connection = try Connection(loop: loop, fd: client, peer: peer, tls: tls)
                connection.admission = gate.map { Connection.Admission(gate: $0, address: address) }
                onAccept(connection)
            } catch {
                Syscall.close(client)
                gate?.release(address)
            }
        }
        if case .pause(let error) = outcome {
            AcceptLoop.pause(loop: loop, fd: fd, registrationID: registrationID) { [weak self] in self?.closed ?? true }
            let startsEpisode = !pauses.inEpisode
            pauses.total += 1
            pauses.inEpisode = true
            if startsEpisode { onPause?(SystemError("accept4", errno: error)) }
        }
    }
}
