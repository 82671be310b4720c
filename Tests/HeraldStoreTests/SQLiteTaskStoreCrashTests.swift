import Foundation
import Testing
@testable import HeraldStore

/// Commits must outlive the process that made them, without any close or shutdown.
@Suite struct SQLiteTaskStoreCrashTests {
    @Test func commitsAreVisibleToASecondConnectionWhileTheFirstIsStillOpen() throws {
        let dir = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try SQLiteTaskStore(directory: dir)
        _ = try writer.load()
        try writer.commit([.upsertTask(task("d")), .appendEvent(event(1, task: "d"))], seq: 1, epoch: "E", durable: true)
        try writer.commit([.upsertTask(task("n", seq: 2)), .appendEvent(event(2, task: "n"))], seq: 2, epoch: "E", durable: false)
        // No close, no checkpoint, no markCleanShutdown: what a crash would leave.
        let reader = try SQLiteTaskStore(directory: dir, takeLock: false)
        let state = try reader.load()
        #expect(Set(state.tasksByID.keys) == ["d", "n"])
        #expect(state.events == [event(1, task: "d"), event(2, task: "n")])
        #expect(state.seq == 2 && state.epoch == "E" && state.cleanShutdown == false)
        withExtendedLifetime(writer) {}
    }

    /// A real `kill -9` of the process that made the commits. The parent fork(2)s; the child
    /// execs this test binary again (`/proc/self/exe`) to run only `crashChildCommitsAndWaits`,
    /// which opens the store, commits (durably, then not), reports through a pipe and waits.
    /// The parent then kills it with SIGKILL — no close, no atexit, no checkpoint — and opens
    /// the same directory: every commit the child saw return is there, and the lock the child
    /// held is free.
    ///
    /// Why exec and not work in the forked child directly: this process has many threads
    /// (the test runner's pool, other suites' event loops); a lock one of them held at fork()
    /// time would stay locked forever in the child, so between fork and exec the child only
    /// calls dup2/execve (async-signal-safe). Plain fork-and-work passed here too, but would
    /// be a rare hang on a busy CI machine.
    /// (kill -9 does not test fsync itself, which only matters on power loss; the durable
    /// path's one fsync per commit was checked with strace, see SQLiteTaskStore.)
    @Test func commitsSurviveKill9OfTheChildProcessThatMadeThem() throws {
        let dir = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var fds: [Int32] = [-1, -1]
        try #require(pipe(&fds) == 0)
        let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)
        try #require(devNull >= 0)
        defer { close(devNull) }

        // Everything the child needs is built before fork(); after it, only dup2 and execve.
        let exe = "/proc/self/exe"
        let args = [exe, "--testing-library", "swift-testing", "--filter", "crashChildCommitsAndWaits"]
        var env = ProcessInfo.processInfo.environment
        env[Self.childDirectoryVariable] = dir
        env[Self.childPipeVariable] = String(fds[1])
        let cArgs = args.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cArgs + cEnv).forEach { free($0) } }

        let pid = fork()
        if pid == 0 {
            close(fds[0])
            dup2(devNull, 1)
            dup2(devNull, 2)
            execve(exe, cArgs, cEnv)
            _exit(127)
        }
        try #require(pid > 0)
        close(fds[1])
        var poller = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, 120_000)
        var reported: UInt8 = 255
        let n = ready > 0 ? read(fds[0], &reported, 1) : 0
        kill(pid, SIGKILL)
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
        close(fds[0])
        #expect(n == 1 && reported == 0, "the child did not commit (read \(n), code \(reported))")
        #expect(status & 0x7f == SIGKILL, "the child ended some other way: status \(status)")

        let store = try SQLiteTaskStore(directory: dir)
        let state = try store.load()
        #expect(state.tasksByID == ["a": task("a", status: "running", seq: 1), "b": task("b", seq: 2)])
        #expect(state.events == [event(1, task: "a"), event(2, task: "b")])
        #expect(state.seq == 2)
        #expect(state.epoch == "E-child")
        #expect(state.cleanShutdown == false)
    }

    static let childDirectoryVariable = "HERALD_STORE_CRASH_CHILD_DIR"
    static let childPipeVariable = "HERALD_STORE_CRASH_CHILD_FD"

    /// The child half of the test above; does nothing in a normal run.
    @Test func crashChildCommitsAndWaits() throws {
        let env = ProcessInfo.processInfo.environment
        guard let dir = env[Self.childDirectoryVariable], let fd = env[Self.childPipeVariable].flatMap({ Int32($0) }) else {
            return
        }
        var code: UInt8 = 1
        defer {
            // Reached only on failure: report it and leave.
            _ = write(fd, &code, 1)
            _exit(1)
        }
        let store = try SQLiteTaskStore(directory: dir)
        _ = try store.load()
        try store.commit([.upsertTask(task("a", status: "running", seq: 1)), .appendEvent(event(1, task: "a"))],
                         seq: 1, epoch: "E-child", durable: true)
        try store.commit([.upsertTask(task("b", seq: 2)), .appendEvent(event(2, task: "b"))],
                         seq: 2, epoch: "E-child", durable: false)
        code = 0
        _ = write(fd, &code, 1)
        withExtendedLifetime(store) {
            while true { pause() }  // until SIGKILL
        }
    }
}
