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
        let keepGoing = AcceptLoop.acceptPending(fd: fd, isClosed: { [unowned self] in closed }) { client, storage in
            let address = PeerAddress(storage)
            if let gate, case .refuse(let response) = gate.admit(address) {
                AcceptLoop.refuse(client, with: response, scratch: loop.readBuffer)
                return
            }
            // Responses are flushed once per turn already; Nagle would only add delay.
            try? Syscall.setInt(client, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            let peer = SocketAddress.describe(storage)
            do {
                let connection = try Connection(loop: loop, fd: client, peer: peer)
                connection.admission = gate.map { (gate: $0, address: address) }
                onAccept(connection)
            } catch {
                Syscall.close(client)
                gate?.release(address)
            }
        }
        if !keepGoing {
            AcceptLoop.pause(loop: loop, fd: fd, registrationID: registrationID) { [weak self] in self?.closed ?? true }
        }
    }
}
