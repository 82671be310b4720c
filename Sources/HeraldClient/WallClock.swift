import Glibc

/// The wall clock, for what is compared with the server's RFC 3339 times (deadline countdowns);
/// durations the client measures itself use `MonotonicTime`.
public enum WallClock {
    public static func milliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec / 1_000_000)
    }
}
