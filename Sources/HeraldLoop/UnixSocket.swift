import CHeraldLinux
import Glibc

/// Client side of a Unix-domain stream socket (a server process reaching the broker), plus the
/// `sockaddr_un` plumbing shared with `UnixListener`.
public enum UnixSocket {
    /// `sun_path` is 108 bytes on Linux (unix(7)) and we always NUL-terminate it, so a path may
    /// use 107. Longer paths would be silently truncated by the kernel's view, so they are refused.
    public static let maxPathBytes = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// A path that begins with `@` names a socket in Linux's abstract namespace (unix(7)): no
    /// file at all, and the name goes away with the last socket bound to it, kill -9 included,
    /// so nothing is ever left behind. Nothing on disk guards such a name either: any process
    /// in our network namespace may connect to it, or bind it while it is free. So the listener
    /// accepts only our own uid (`UnixListener`, SO_PEERCRED) and `connect` checks the listener
    /// is ours as well before a byte is sent.
    public static func isAbstract(_ path: String) -> Bool { path.hasPrefix("@") }

    /// Connects to the listener at `path` and registers the connection on `loop`. Call on the
    /// loop's thread. A Unix-socket connect never goes "in progress": it succeeds at once, or
    /// fails with ENOENT (no socket), ECONNREFUSED (stale file, nobody listens) or EAGAIN (the
    /// listener's backlog is full), which is reported as "broker busy".
    public static func connect(path: String, on loop: EventLoop) throws(SystemError) -> Connection {
        let fd = try makeSocket()
        do {
            try connect(fd: fd, path: path)
            return try Connection(loop: loop, fd: fd, peer: "unix:\(path)")
        } catch {
            Syscall.close(fd)
            throw error
        }
    }

    // MARK: Internal plumbing

    static func makeSocket() throws(SystemError) -> Int32 {
        try Syscall.retrying("socket(AF_UNIX)") {
            socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
    }

    /// connect(2) on an AF_UNIX socket with errors named after the path.
    static func connect(fd: Int32, path: String) throws(SystemError) {
        let rc = try withAddress(path: path) { sa, len in
            var rc: Int32
            repeat { rc = Glibc.connect(fd, sa, len) } while rc != 0 && errno == EINTR
            return rc
        }
        guard rc != 0 else {
            if isAbstract(path) { try checkListenerIsOurs(fd: fd, path: path) }
            return
        }
        let e = errno
        if e == EAGAIN || e == EWOULDBLOCK {
            throw SystemError("connect(\(path)): broker busy (listen backlog full)", errno: e)
        }
        throw SystemError("connect(\(path))", errno: e)
    }

    /// An abstract name can be bound by anyone; a listener of another user is refused (the
    /// kernel recorded its credentials at listen() time, SO_PEERCRED).
    static func checkListenerIsOurs(fd: Int32, path: String) throws(SystemError) {
        guard let credentials = peerCredentials(fd: fd) else {
            throw SystemError("connect(\(path)): cannot read the listener's credentials", errno: EACCES)
        }
        guard credentials.uid == geteuid() else {
            throw SystemError("connect(\(path)): the listener is uid \(credentials.uid)'s, not ours (uid \(geteuid()))", errno: EACCES)
        }
    }

    /// Calls `body` with a `sockaddr_un` for `path` (an abstract name for `@name`); throws
    /// ENAMETOOLONG for a path that does not fit `sun_path`.
    static func withAddress<R>(
        path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R
    ) throws(SystemError) -> R {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty else {
            throw SystemError("unix socket path is empty", errno: EINVAL)
        }
        guard bytes.count <= maxPathBytes else {
            throw SystemError(
                "unix socket path is \(bytes.count) bytes, longer than the \(maxPathBytes) that fit in sun_path: \(path)",
                errno: ENAMETOOLONG)
        }
        guard !bytes.contains(0) else {
            throw SystemError("unix socket path contains a NUL byte", errno: EINVAL)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let length: socklen_t
        if isAbstract(path) {
            guard bytes.count > 1 else {
                throw SystemError("abstract unix socket name is empty", errno: EINVAL)
            }
            withUnsafeMutableBytes(of: &address.sun_path) { dst in
                dst.copyBytes(from: bytes)
                dst[0] = 0  // the `@`: a leading NUL names the abstract namespace
            }
            // offsetof(sun_path) + NUL + name: every byte of the length is part of the name, so
            // no terminating NUL (unix(7), "abstract").
            length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count)
        } else {
            withUnsafeMutableBytes(of: &address.sun_path) { dst in
                dst.copyBytes(from: bytes)  // the rest stays zero: NUL-terminated
            }
            // offsetof(sun_path) + path + NUL, as unix(7) recommends.
            length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + 1)
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }
}
