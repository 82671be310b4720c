import CHeraldLinux
import Glibc

/// A listening Unix-domain stream socket on a loop (the broker's end). Like `TCPListener` it
/// accepts with accept4 until EAGAIN, but it also guards the socket file:
///
/// - the parent directory must exist and be writable by its owner only (issue 6: "the socket
///   file is created mode 0600 in a directory only the user can write"), so nobody else can
///   swap the file under us;
/// - a socket file nobody accepts on (connect → ECONNREFUSED, left by a crashed broker) is stale
///   and replaced; one somebody accepts on is refused with EADDRINUSE;
/// - the socket gets `permissions` before `listen`, so there is no moment where a wider mode
///   could be connected to;
/// - every accepted peer's SO_PEERCRED uid is checked against `allowedUID` (the effective uid
///   of this process by default) and other users are closed at once.
///
/// Exclusion between two brokers starting at once is not this type's job: the stale check and
/// unlink race, so callers hold a `FileLock` next to the socket first.
///
/// An abstract name (`@name`, see `UnixSocket.isAbstract`) has no file: none of the file checks
/// apply, bind(2) itself refuses a name in use (EADDRINUSE) so no lock is needed, and the name
/// disappears with the socket. The SO_PEERCRED check is then the only guard, and it stays on.
public final class UnixListener: IOHandler {
    public let loop: EventLoop
    public let path: String
    public let requireSameUID: Bool
    public let allowedUID: uid_t
    /// Connections closed because their peer was another user (or its credentials were unreadable).
    public private(set) var refusedPeers = 0
    /// Pauses of accepting (out of fds or memory) so far.
    public private(set) var pauses = AcceptPauses()
    private let fd: Int32
    private var registrationID: UInt64 = 0
    private let onAccept: (Connection) -> Void
    private var closed = false
    /// The inode we bound, so `close` unlinks only our own socket file, never a successor's.
    private var boundDevice: dev_t = 0
    private var boundInode: ino_t = 0

    /// Mode bits of the parent directory that let someone other than its owner create, rename
    /// or delete entries in it.
    static let unsafeDirectoryBits: mode_t = 0o022

    public init(
        loop: EventLoop, path: String, permissions: mode_t = 0o600, backlog: Int32 = 128,
        requireSameUID: Bool = true, allowedUID: uid_t = geteuid(),
        onAccept: @escaping (Connection) -> Void
    ) throws(SystemError) {
        self.loop = loop
        self.path = path
        self.requireSameUID = requireSameUID
        self.allowedUID = allowedUID
        self.onAccept = onAccept
        // Checks that need no socket first: a too-long path fails before anything is touched.
        _ = try UnixSocket.withAddress(path: path) { _, _ in 0 }
        let abstract = UnixSocket.isAbstract(path)
        if !abstract {
            try Self.checkParentDirectory(of: path)
            try Self.removeStaleSocket(at: path)
        }
        fd = try UnixSocket.makeSocket()
        var bound = false
        do throws(SystemError) {
            let rc = try UnixSocket.withAddress(path: path) { sa, len in bind(fd, sa, len) }
            if rc != 0 {
                let e = errno
                // EADDRINUSE here: someone bound the path between our stale check and now, or
                // (abstract) someone listens on the name.
                if abstract && e == EADDRINUSE { throw SystemError("another process listens on \(path)", errno: e) }
                throw SystemError("bind(\(path))", errno: e)
            }
            if !abstract {  // an abstract name has no file: no mode, nothing to unlink
                bound = true
                // Before listen(): until then a connect is refused, so the umask-derived mode
                // the file was created with is never usable.
                guard chmod(path, permissions) == 0 else { throw SystemError("chmod(\(path))") }
                var st = stat()
                guard lstat(path, &st) == 0 else { throw SystemError("lstat(\(path))") }
                boundDevice = st.st_dev
                boundInode = st.st_ino
            }
            _ = try Syscall.retrying("listen(\(path))") { listen(fd, backlog) }
            registrationID = try loop.register(fd: fd, interest: .read, handler: self)
        } catch {
            Syscall.close(fd)
            if bound { unlink(path) }
            throw error
        }
    }

    /// Stops accepting and removes the socket file (if it is still the one we created).
    /// Established connections are not touched.
    public func close() {
        guard !closed else { return }
        closed = true
        loop.deregister(fd: fd, id: registrationID)
        Syscall.close(fd)
        guard !UnixSocket.isAbstract(path) else { return }  // the name went with the socket
        var st = stat()
        if lstat(path, &st) == 0 && st.st_dev == boundDevice && st.st_ino == boundInode {
            unlink(path)
        }
    }

    func handle(events: UInt32) {
        let outcome = AcceptLoop.acceptPending(fd: fd, isClosed: { [unowned self] in closed }) { client, storage in
            pauses.inEpisode = false
            let credentials = UnixSocket.peerCredentials(fd: client)
            if requireSameUID && credentials?.uid != allowedUID {
                refusedPeers += 1
                Syscall.close(client)
                return
            }
            let peer = credentials.map { "unix:uid=\($0.uid),pid=\($0.pid)" } ?? "unix"
            do {
                onAccept(try Connection(loop: loop, fd: client, peer: peer))
            } catch {
                Syscall.close(client)
            }
        }
        if case .pause = outcome {
            AcceptLoop.pause(loop: loop, fd: fd, registrationID: registrationID) { [weak self] in self?.closed ?? true }
            pauses.total += 1
            pauses.inEpisode = true
        }
    }

    // MARK: Socket file checks

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// The directory must exist, be a directory, belong to us (or root) and be writable by its
    /// owner only: otherwise another user could replace the socket file with their own.
    static func checkParentDirectory(of path: String) throws(SystemError) {
        let directory = parentDirectory(of: path)
        var st = stat()
        guard stat(directory, &st) == 0 else {
            let e = errno
            throw SystemError("directory \(directory) of socket \(path) is not usable", errno: e)
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw SystemError("\(directory) (parent of socket \(path)) is not a directory", errno: ENOTDIR)
        }
        let mode = st.st_mode & 0o7777
        if mode & unsafeDirectoryBits != 0 {
            throw SystemError(
                "directory \(directory) of socket \(path) is writable by group or others (mode 0\(String(mode, radix: 8))); "
                    + "put the socket in a directory only its owner can write (chmod 700)",
                errno: EPERM)
        }
        if st.st_uid != geteuid() && st.st_uid != 0 {
            throw SystemError(
                "directory \(directory) of socket \(path) belongs to uid \(st.st_uid), not to us (uid \(geteuid())) or root",
                errno: EPERM)
        }
    }

    /// Removes a socket file left by a dead listener; throws when a live one accepts there or
    /// when the path is something other than a socket (never deleted).
    static func removeStaleSocket(at path: String) throws(SystemError) {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw SystemError("lstat(\(path))")
        }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            throw SystemError("\(path) exists and is not a socket; not replacing it", errno: EEXIST)
        }
        let probe = try UnixSocket.makeSocket()
        defer { Syscall.close(probe) }
        do throws(SystemError) {
            try UnixSocket.connect(fd: probe, path: path)
        } catch {
            switch error.errno {
            case ECONNREFUSED:
                // Nobody listens: a crashed listener's leftover.
                guard unlink(path) == 0 || errno == ENOENT else { throw SystemError("unlink(\(path))") }
                return
            case ENOENT:
                return  // removed meanwhile
            case EAGAIN:
                break  // backlog full: very much alive
            default:
                throw error
            }
        }
        throw SystemError("another process listens on \(path)", errno: EADDRINUSE)
    }
}
