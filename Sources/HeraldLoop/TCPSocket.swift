import CHeraldLinux
import Glibc

/// Client side of a TCP connection (Herald reaching Redis). The connect is non-blocking: the
/// `Connection` is returned at once and writes queue until the kernel finishes the handshake
/// (a write before that gets EAGAIN and waits for EPOLLOUT, like any full socket); a refused or
/// unreachable peer shows as the connection closing. The caller bounds the wait with a timer.
public enum TCPSocket {
    /// Resolves `host` (getaddrinfo blocks: give an IP literal, or a name /etc/hosts has, as for
    /// redis' own clients) and starts connecting on `loop`. Call on the loop's thread.
    public static func connect(host: String, port: Int, on loop: EventLoop) throws(SystemError) -> Connection {
        let address = try SocketAddress.resolve(host: host, port: port)
        let fd = try Syscall.retrying("socket(\(host))") {
            socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do throws(SystemError) {
            try? Syscall.setInt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            let rc = try address.withSockAddr { sa, len in Glibc.connect(fd, sa, len) }
            if rc != 0 && errno != EINPROGRESS && errno != EINTR {
                throw SystemError("connect(\(host):\(port))")
            }
            return try Connection(loop: loop, fd: fd, peer: "\(host):\(port)")
        } catch {
            Syscall.close(fd)
            throw error
        }
    }
}
