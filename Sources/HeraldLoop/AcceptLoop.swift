import CHeraldLinux
import Glibc

/// The accept loop both listeners share: accept4 until EAGAIN, retry what is transient, and
/// when the process runs out of fds (or the kernel out of memory for a socket) pause for a
/// moment instead of spinning on a readable listener that cannot be served.
///
/// Why a pause and not the spare-fd trick (libuv, libev: keep one fd in reserve, on EMFILE close
/// it, accept, close the connection, reopen it): the pause is what nginx (accept events off for
/// `accept_mutex_delay`) and Go's net/http (accept retried after a growing sleep) do. While
/// paused, new connections wait in the listen backlog and are served as soon as fds come back,
/// instead of being turned away a moment before they could have been answered; nothing costs
/// a spare fd, and there is no race with other threads (the store, static files, the log) that
/// may take the spare slot the instant it is closed — under ENFILE it is any process's. An
/// explicit refusal is what `--max-connections` is for: set below the fd limit, a connection
/// past it gets `503 server_busy` at accept, before the process is ever out of fds.
enum AcceptLoop {
    static let fdExhaustionPauseSeconds = 0.1
    /// accept4 calls per readiness event: a flood of new connections cannot keep the loop from
    /// its other connections for long; the listener is level-triggered, the rest comes next turn.
    static let acceptBudget = 256

    /// accept4(fd, addr, len) with SOCK_NONBLOCK | SOCK_CLOEXEC; replaceable in tests.
    typealias AcceptFunction = (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    static func systemAccept(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>, _ length: UnsafeMutablePointer<socklen_t>) -> Int32 {
        herald_linux_accept4(fd, address, length)
    }

    enum ErrorAction: Equatable {
        /// The failure belonged to one queued connection (or a signal): accept the next one.
        case retry
        /// Nothing left to accept.
        case drained
        /// Out of fds or memory, or something unexpected: retrying now would fail the same way.
        case pause
    }

    /// What to do after accept4 failed with `error`.
    static func action(after error: Int32) -> ErrorAction {
        switch error {
        case EAGAIN, EWOULDBLOCK:
            return .drained
        // accept(2) on Linux: a connection that died in the queue, and "network errors already
        // pending on the new socket … treat them like EAGAIN by retrying"; EPERM: a firewall
        // rule refused this one connection.
        case EINTR, ECONNABORTED, EPROTO, EPERM, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH,
             EOPNOTSUPP, ENETUNREACH:
            return .retry
        default:
            // EMFILE, ENFILE, ENOBUFS, ENOMEM, and anything unexpected (EBADF, EINVAL …):
            // the listener stays readable, so retrying at once would spin at 100 % CPU.
            return .pause
        }
    }

    enum Outcome: Equatable {
        /// Accepted everything pending, or used up the turn's budget (the rest comes next turn).
        case drained
        /// Accepting must pause; the errno that said so.
        case pause(Int32)
    }

    /// Accepts the pending connections of `fd` (at most `acceptBudget` calls), handing each to
    /// `accepted` with its address.
    static func acceptPending(
        fd: Int32, accept: AcceptFunction = systemAccept, isClosed: () -> Bool,
        _ accepted: (Int32, sockaddr_storage) -> Void
    ) -> Outcome {
        for _ in 0..<acceptBudget {
            if isClosed() { return .drained }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let client = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { accept(fd, $0, &length) }
            }
            if client < 0 {
                let error = errno
                switch action(after: error) {
                case .retry: continue
                case .drained: return .drained
                case .pause: return .pause(error)
                }
            }
            accepted(client, storage)
        }
        return .drained
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

/// What a listener tells about its pauses (both listeners keep one).
public struct AcceptPauses: Sendable {
    /// Every pause so far (each one `AcceptLoop.fdExhaustionPauseSeconds` long).
    public internal(set) var total: UInt64 = 0
    /// True from a pause until a connection is accepted again: one episode of exhaustion.
    public internal(set) var inEpisode = false
}
