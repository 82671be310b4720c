import CHeraldLinux
import Glibc

/// The accept loop both listeners share: accept4 until EAGAIN, retry what is transient, and
/// when the process runs out of fds pause for a moment instead of spinning on a readable
/// listener that cannot be served.
enum AcceptLoop {
    static let fdExhaustionPauseSeconds = 0.1

    /// Accepts every pending connection of `fd`, handing each to `accepted` with its address.
    /// Returns false when accepting must pause (fds exhausted).
    static func acceptPending(fd: Int32, isClosed: () -> Bool, _ accepted: (Int32, sockaddr_storage) -> Void) -> Bool {
        while !isClosed() {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { herald_linux_accept4(fd, $0, &length) }
            }
            if client < 0 {
                switch errno {
                case EINTR, ECONNABORTED, EPROTO: continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM: return false
                default: return true  // EAGAIN: accepted everything pending
                }
            }
            accepted(client, storage)
        }
        return true
    }

    /// Turns an accepted socket away without a connection: one non-blocking send of `response`
    /// (a fresh socket's send buffer always has room for a short answer), one read of whatever
    /// the client already sent, then close. The read matters: closing with unread input makes
    /// the kernel send an RST instead of a FIN, which may destroy the answer before the client
    /// reads it. `scratch` is the loop's read buffer, so nothing is allocated.
    static func refuse(_ client: Int32, with response: [UInt8], scratch: UnsafeMutableRawBufferPointer) {
        _ = response.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        _ = recv(client, scratch.baseAddress, scratch.count, 0)
        Syscall.close(client)
    }

    /// Stops watching `fd` for `fdExhaustionPauseSeconds`, then watches it again unless closed.
    static func pause(loop: EventLoop, fd: Int32, registrationID: UInt64, isClosed: @escaping () -> Bool) {
        loop.reregister(fd: fd, interest: [], id: registrationID)
        loop.scheduleTimer(afterSeconds: fdExhaustionPauseSeconds) {
            guard !isClosed() else { return }
            loop.reregister(fd: fd, interest: .read, id: registrationID)
        }
    }
}
