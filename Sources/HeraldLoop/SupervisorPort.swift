import Glibc

/// The TCP port of `herald serve --workers N`, held by the supervisor while its workers come and
/// go: a socket bound with SO_REUSEPORT but never listening. The workers bind the same port with
/// SO_REUSEPORT (allowed for the same uid) and the kernel spreads connections over their
/// listeners only — a socket that does not listen is in no accept group. While every worker is
/// down (restarting), no other program can take the port.
public final class SupervisorPort {
    public let host: String
    /// The bound port (the one the kernel chose when 0 was asked for).
    public let port: Int
    private var fd: Int32

    /// Fails with EADDRINUSE when anything else serves on host:port — including another
    /// supervisor's workers, which SO_REUSEPORT alone would let us join without a word.
    public init(host: String, port: Int) throws(SystemError) {
        self.host = host
        let address = try SocketAddress.resolve(host: host, port: port)
        // 1. A plain listener, as a lone `herald serve` would make, proves the port is free.
        //    It must listen: two non-listening SO_REUSEADDR sockets may share a port.
        let probe = try Self.bound(address, reuseAddress: true, reusePort: false, listening: true)
        let chosen: Int
        do {
            chosen = try SocketAddress.localPort(of: probe)
        } catch {
            Syscall.close(probe)
            throw error
        }
        Syscall.close(probe)
        // 2. Hold it with SO_REUSEPORT, so our workers can join, and without SO_REUSEADDR: two
        //    non-listening SO_REUSEADDR sockets may share a port, so with it a plain listener
        //    could take the port while every worker is down. Only a TIME_WAIT connection of a
        //    process without SO_REUSEPORT (a lone `herald serve` just stopped) refuses that bind;
        //    then the port is held with SO_REUSEADDR too, a weaker hold than none.
        //    Between 1 and 2 another program could take the port: then the bind fails, said so.
        let held = try SocketAddress.resolve(host: host, port: chosen)
        do {
            fd = try Self.bound(held, reuseAddress: false, reusePort: true, listening: false)
        } catch where error.errno == EADDRINUSE {
            fd = try Self.bound(held, reuseAddress: true, reusePort: true, listening: false)
        }
        self.port = chosen
    }

    deinit { close() }

    /// Releases the port (idempotent).
    public func close() {
        guard fd >= 0 else { return }
        Syscall.close(fd)
        fd = -1
    }

    private static func bound(_ address: SocketAddress, reuseAddress: Bool, reusePort: Bool, listening: Bool) throws(SystemError) -> Int32 {
        let fd = try Syscall.retrying("socket") {
            Glibc.socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do {
            // SO_REUSEADDR as TCPListener sets it: connections of a previous run in TIME_WAIT
            // must not make a restart fail.
            if reuseAddress { try Syscall.setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1) }
            if reusePort { try Syscall.setInt(fd, SOL_SOCKET, SO_REUSEPORT, 1) }
            _ = try address.withSockAddr { sa, len throws(SystemError) in try Syscall.retrying("bind") { bind(fd, sa, len) } }
            if listening { _ = try Syscall.retrying("listen") { listen(fd, 1) } }
        } catch {
            Syscall.close(fd)
            throw error
        }
        return fd
    }
}
