import CHeraldLinux
import Glibc

/// How a child process ended, from a `waitpid` status. Only exits and signals: we never ask
/// for stops (no WUNTRACED).
public enum ChildExit: Equatable, Sendable, CustomStringConvertible {
    case exited(status: Int32)
    case killed(signal: Int32)

    /// Decodes a wait status as the `WIFEXITED`/`WTERMSIG` macros do (they are not imported
    /// into Swift): the low 7 bits are the signal, 0 for a normal exit with the code above them.
    public init(waitStatus: Int32) {
        let signal = waitStatus & 0x7f
        self = signal == 0 ? .exited(status: (waitStatus >> 8) & 0xff) : .killed(signal: signal)
    }

    /// "exited with status 1", "killed by signal 9": the words of the supervisor's log lines.
    public var description: String {
        switch self {
        case .exited(let status): "exited with status \(status)"
        case .killed(let signal): "killed by signal \(signal)"
        }
    }
}

/// Starting and reaping the processes of `herald serve --workers N` (the supervisor), and the
/// first steps of such a child. posix_spawn, not fork: the parent has threads and an epoll set,
/// and nothing but exec may safely run in a forked copy of it.
public enum ChildProcess {
    /// This very binary, even if the file was replaced (a rebuild) since we started.
    public static let selfExecutable = "/proc/self/exe"

    /// Signals a child must not inherit as ignored (SIGPIPE) or blocked (our SignalWatchers
    /// block them on the main thread): with them reset, SIGTERM stops a child by default and its
    /// own SignalWatcher works.
    static let resetSignals = [SIGPIPE, SIGTERM, SIGINT, SIGCHLD]

    /// Starts `arguments` (argv[0] first, so `ps` shows "herald worker …") with stdin on
    /// /dev/null, stdout and stderr shared with us, an empty signal mask and default signal
    /// actions. `passing` maps a child fd number to one of our fds; every other fd of ours is
    /// CLOEXEC and stays behind.
    public static func spawn(
        arguments: [String], executable: String = selfExecutable, passing: [Int32: Int32] = [:]
    ) throws(SystemError) -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signo in resetSignals { sigaddset(&defaults, signo) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var duplicates: [Int32] = []
        defer { duplicates.forEach(Syscall.close) }
        for (target, var source) in passing {
            // dup2(n, n) would keep FD_CLOEXEC on older glibc: pass a copy instead.
            if source == target {
                source = fcntl(source, F_DUPFD_CLOEXEC, 10)
                guard source >= 0 else { throw SystemError("fcntl(F_DUPFD_CLOEXEC)") }
                duplicates.append(source)
            }
            posix_spawn_file_actions_adddup2(&actions, source, target)
        }

        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, &argv, environ)
        guard rc == 0 else { throw SystemError("posix_spawn(\(executable))", errno: rc) }
        return pid
    }

    /// Every child that has ended since the last call (waitpid(-1, WNOHANG) until none is left).
    public static func reapExited() -> [(pid: pid_t, exit: ChildExit)] {
        var ended: [(pid: pid_t, exit: ChildExit)] = []
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 {
                ended.append((pid, ChildExit(waitStatus: status)))
            } else if pid < 0 && errno == EINTR {
                continue
            } else {
                return ended  // 0: children left but none ended; -1 ECHILD: no children at all
            }
        }
    }

    /// Sends `signo` to a child we spawned (and have not reaped, so the pid is still ours).
    public static func signal(_ pid: pid_t, _ signo: Int32) {
        _ = kill(pid, signo)
    }

    /// The first thing a supervised child does, on its main thread before any other thread
    /// starts: block SIGTERM and SIGINT, so every thread started later inherits the block and
    /// they reach the SignalWatcher (a thread that let SIGTERM through would die of it, with no
    /// graceful stop); ask for SIGTERM when the supervisor dies; then check it is still alive
    /// (it may have died before the request, and then nobody would send the signal). Also names
    /// the process "herald": exec of /proc/self/exe would otherwise leave it called "exe" in
    /// `ps -o comm` and `pgrep`. False: the supervisor is gone.
    public static func bindLifetime(toSupervisor supervisor: pid_t) -> Bool {
        SignalWatcher.block([SIGTERM, SIGINT, SIGHUP])  // SIGHUP: a TLS reload, passed on by the supervisor
        _ = herald_linux_set_thread_name("herald")  // on the main thread: the process's name
        _ = herald_linux_set_parent_death_signal(SIGTERM)
        return getppid() == supervisor
    }
}
