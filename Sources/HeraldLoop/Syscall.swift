import CHeraldLinux
import Glibc

/// System calls with EINTR retried and errors thrown. EAGAIN is reported as nil where a
/// non-blocking call may legitimately have nothing to do.
enum Syscall {
    @inline(__always)
    static func retrying<T: BinaryInteger>(_ name: String, _ call: () -> T) throws(SystemError) -> T {
        while true {
            let r = call()
            if r >= 0 { return r }
            let e = errno
            if e == EINTR { continue }
            throw SystemError(name, errno: e)
        }
    }

    /// nil when the call would block.
    @inline(__always)
    static func nonBlocking<T: BinaryInteger>(_ name: String, _ call: () -> T) throws(SystemError) -> T? {
        while true {
            let r = call()
            if r >= 0 { return r }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return nil }
            throw SystemError(name, errno: e)
        }
    }

    static func close(_ fd: Int32) {
        // Linux closes the fd even when close(2) reports EINTR: never retry.
        _ = Glibc.close(fd)
    }

    static func setInt(_ fd: Int32, _ level: Int32, _ option: Int32, _ value: Int32) throws(SystemError) {
        var v = value
        _ = try retrying("setsockopt") { setsockopt(fd, level, option, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }
}

/// Monotonic time in nanoseconds; never goes backwards, unaffected by wall-clock changes.
public enum MonotonicClock {
    @inline(__always)
    public static func now() -> UInt64 { UInt64(herald_linux_monotonic_ns()) }
}

/// Opening a file only when no component of its path is a symlink.
public enum NoSymlinkOpen {
    /// openat2(2) of the absolute `path` with RESOLVE_NO_SYMLINKS; the fd, or -1 with errno set
    /// (ELOOP: a component is a symlink; ENOSYS: no openat2 here).
    public static func open(_ path: String, flags: Int32) -> Int32 {
        herald_linux_open_no_symlinks(path, flags)
    }
}
