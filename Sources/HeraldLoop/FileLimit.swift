import Glibc

/// The process's open-file limit (RLIMIT_NOFILE). Every connection is an fd: a server holding
/// thousands of subscribers needs more than the 1,024 many systems start a process with.
public enum FileLimit {
    /// The soft and hard limits now; nil if they cannot be read.
    public static func current() -> (soft: UInt64, hard: UInt64)? {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return nil }
        return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
    }

    /// Raises the soft limit to the hard one (what Go's runtime and redis do at start): no
    /// privilege is needed, and nothing here uses select(2), so fds above 1,024 are fine.
    /// Returns the soft limit in effect afterwards.
    @discardableResult
    public static func raiseSoftToHard() -> UInt64? {
        var limit = rlimit()
        guard getrlimit(RLIMIT_NOFILE_VALUE, &limit) == 0 else { return nil }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(RLIMIT_NOFILE_VALUE, &raised) == 0 { return UInt64(raised.rlim_max) }
        }
        return UInt64(limit.rlim_cur)
    }

    private static var RLIMIT_NOFILE_VALUE: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
}
