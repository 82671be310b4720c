import Glibc

/// An exclusive `flock(2)` on a lock file: "exactly one broker per socket, guarded by flock on a
/// lock file next to it, so two starts race safely" (issue 6). The kernel drops the lock when
/// the holder's fd closes — including when the process is killed — so a crash never leaves a
/// lock behind, unlike a pid file alone. The holder's pid is written into the file for messages
/// ("broker already running, pid 1234"), but the lock, not the pid, is the truth.
///
/// flock locks belong to the open file description: a second `tryLock` on the same path from
/// the same process conflicts too, exactly as one from another process does.
public final class FileLock {
    public let path: String
    private var fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { unlock() }

    /// Takes the lock without waiting. nil when another open file description (another process,
    /// or another `FileLock` here) holds it. The file is created mode 0600 if missing.
    public static func tryLock(path: String) throws(SystemError) -> FileLock? {
        // O_NOFOLLOW: never lock (and truncate) whatever a planted symlink points at.
        let fd = try Syscall.retrying("open(\(path))") {
            open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode_t(0o600))
        }
        var rc: Int32
        repeat { rc = flock(fd, LOCK_EX | LOCK_NB) } while rc != 0 && errno == EINTR
        if rc != 0 {
            let e = errno
            Syscall.close(fd)
            if e == EWOULDBLOCK { return nil }
            throw SystemError("flock(\(path))", errno: e)
        }
        let lock = FileLock(path: path, fd: fd)
        // Only the holder writes, and only after locking: readers see the current holder's pid
        // (or, briefly, an empty file).
        let text = Array("\(getpid())\n".utf8)
        guard ftruncate(fd, 0) == 0 else { throw SystemError("ftruncate(\(path))") }
        let written = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        guard written == text.count else { throw SystemError("write(\(path))") }
        return lock
    }

    /// The pid recorded by the last holder, or nil when the file is missing, empty or garbled.
    /// It may name a process that has since exited: check with `tryLock` whether it still holds.
    public static func holderPID(path: String) -> pid_t? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { Syscall.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self)
        guard let line = text.split(separator: "\n").first, let pid = pid_t(line), pid > 0 else { return nil }
        return pid
    }

    public var isLocked: Bool { fd >= 0 }

    /// Releases the lock (idempotent). The pid is cleared first, while still holding the lock,
    /// so a successor's pid is never wiped.
    public func unlock() {
        guard fd >= 0 else { return }
        _ = ftruncate(fd, 0)
        Syscall.close(fd)  // closing the last fd of the description releases the flock
        fd = -1
    }
}
