import Glibc
import HeraldLoop
import Testing

/// posix_spawn as the supervisor uses it, on /bin/sh: exit statuses, signals, the signal state
/// a child starts with, and the fds it gets.
@Suite(.serialized) struct SupervisorChildProcessTests {
    /// Waits (bounded) for `pid` to end; reaps only that pid so parallel suites are not disturbed.
    private func wait(_ pid: pid_t) -> ChildExit? {
        for _ in 0..<500 {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { return ChildExit(waitStatus: status) }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        return nil
    }

    private func shell(_ script: String, passing: [Int32: Int32] = [:]) throws -> pid_t {
        try ChildProcess.spawn(arguments: ["sh", "-c", script], executable: "/bin/sh", passing: passing)
    }

    @Test func exitStatusAndSignalAreReported() throws {
        #expect(wait(try shell("exit 3")) == .exited(status: 3))
        #expect(wait(try shell("kill -9 $$")) == .killed(signal: 9))
    }

    /// The parent blocks SIGTERM (SignalWatcher) and ignores SIGPIPE; a child must not inherit
    /// either, or SIGTERM would not stop it.
    @Test func childStartsWithNoBlockedSignalsAndDefaultActions() throws {
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGTERM)
        var old = sigset_t()
        pthread_sigmask(SIG_BLOCK, &mask, &old)
        // Left ignored afterwards: restoring the default could race with a parallel test that
        // wants it ignored (every Herald process ignores it).
        signal(SIGPIPE, SIG_IGN)
        defer { pthread_sigmask(SIG_SETMASK, &old, nil) }
        // SigBlk and SigIgn of /proc/self/status are hex masks, bit n-1 for signal n. Nothing
        // may be blocked; of the ignored ones (the test runner may ignore others), none of ours:
        // SIGINT 2, SIGPIPE 13, SIGTERM 15, SIGCHLD 17 → 0x15002.
        let script = """
            blocked=$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/self/status)
            ignored=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/self/status)
            test $((0x$blocked)) -eq 0 && test $((0x$ignored & 0x15002)) -eq 0
            """
        #expect(wait(try shell(script)) == .exited(status: 0))
        let sleeper = try shell("sleep 30")
        kill(sleeper, SIGTERM)
        #expect(wait(sleeper) == .killed(signal: SIGTERM))
    }

    @Test func passedFDReachesTheChildAsTheAskedNumber() throws {
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let pid = try shell("printf x >&3", passing: [3: fds[1]])
        close(fds[1])
        #expect(wait(pid) == .exited(status: 0))
        var byte: UInt8 = 0
        #expect(read(fds[0], &byte, 1) == 1 && byte == UInt8(ascii: "x"))
    }

    @Test func stdinIsDevNull() throws {
        #expect(wait(try shell("test \"$(readlink /proc/self/fd/0)\" = /dev/null")) == .exited(status: 0))
    }
}
