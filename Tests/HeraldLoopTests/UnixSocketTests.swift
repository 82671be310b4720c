import Dispatch
import Glibc
import Testing
@testable import HeraldLoop

/// A fresh directory under /tmp, mode 0700 (mkdtemp), removed with everything in it.
struct TempDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/herald-unix-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw SystemError("mkdtemp")
        }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func remove() { _ = runProcess("/bin/rm", ["-rf", path]) }
}

/// Runs a program to completion; returns its exit status (-1 when it could not run).
@discardableResult
func runProcess(_ program: String, _ arguments: [String]) -> Int32 {
    guard let pid = spawnProcess(program, arguments) else { return -1 }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
}

/// Starts a program; with `newProcessGroup` it leads its own group, so `kill(-pid, …)` also
/// reaches whatever it forks.
func spawnProcess(_ program: String, _ arguments: [String], newProcessGroup: Bool = false) -> pid_t? {
    let argv: [UnsafeMutablePointer<CChar>?] = ([program] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    if newProcessGroup {
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
    }
    var pid: pid_t = 0
    let rc = argv.withUnsafeBufferPointer { posix_spawn(&pid, program, nil, &attributes, $0.baseAddress!, environ) }
    return rc == 0 ? pid : nil
}

/// Collects what a connection reads and signals when `expected` bytes arrived or it closed.
final class ByteCollector: ConnectionDelegate, @unchecked Sendable {
    var received: [UInt8] = []
    var expected: Int
    var echo = false
    let arrived = DispatchSemaphore(value: 0)
    let closed = DispatchSemaphore(value: 0)
    private var signalled = false

    init(expected: Int = .max, echo: Bool = false) {
        self.expected = expected
        self.echo = echo
    }

    func connection(_ connection: Connection, didRead bytes: UnsafeRawBufferPointer) {
        received += bytes
        if echo { connection.write(bytes) }
        if !signalled && received.count >= expected {
            signalled = true
            arrived.signal()
        }
    }

    func connectionDidClose(_ connection: Connection) { closed.signal() }
}

private func fileMode(_ path: String) -> mode_t? {
    var st = stat()
    guard lstat(path, &st) == 0 else { return nil }
    return st.st_mode
}

/// A socket bound at `path` and then closed without listening: what a crashed broker leaves.
private func makeStaleSocketFile(_ path: String) throws {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    let rc = try UnixSocket.withAddress(path: path) { sa, len in bind(fd, sa, len) }
    if rc != 0 { throw SystemError("bind") }
}

private func expectSystemError(
    errno expected: Int32, containing text: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected \(String(cString: strerror(expected))) error", sourceLocation: sourceLocation)
    } catch let error as SystemError {
        #expect(error.errno == expected, "\(error)", sourceLocation: sourceLocation)
        #expect(error.description.contains(text), "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
}

@Suite(.serialized) struct UnixSocketTests {
    @Test func listenerAndConnectExchangeBytesBothWays() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let running = try RunningLoop()
        defer { running.shutdown() }
        let path = dir.file("broker.sock")
        // Large enough to overrun the socket buffers, so backpressure (EPOLLOUT) is exercised.
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        let server = ByteCollector(expected: payload.count, echo: true)
        let client = ByteCollector(expected: payload.count)
        let listener = try running.sync {
            let listener = try UnixListener(loop: running.loop, path: path) { connection in
                connection.delegate = server
            }
            let connection = try UnixSocket.connect(path: path, on: running.loop)
            connection.delegate = client
            connection.write(payload)
            return listener
        }
        #expect(server.arrived.wait(timeout: .now() + 10) == .success)
        #expect(client.arrived.wait(timeout: .now() + 10) == .success)
        try running.sync {
            #expect(server.received == payload)
            #expect(client.received == payload)
        }

        let mode = try #require(fileMode(path))
        #expect(mode & S_IFMT == S_IFSOCK)
        #expect(mode & 0o7777 == 0o600)

        try running.sync { listener.close() }
        #expect(fileMode(path) == nil, "close() removes the socket file")
    }

    @Test func permissionsArgumentSetsTheSocketMode() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let running = try RunningLoop()
        defer { running.shutdown() }
        let path = dir.file("b.sock")
        try running.sync {
            let listener = try UnixListener(loop: running.loop, path: path, permissions: 0o660) { _ in }
            #expect(fileMode(path).map { $0 & 0o7777 } == 0o660)
            listener.close()
        }
    }

    @Test func staleSocketFileIsReplaced() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let running = try RunningLoop()
        defer { running.shutdown() }
        let path = dir.file("b.sock")
        try makeStaleSocketFile(path)
        #expect(fileMode(path).map { $0 & S_IFMT } == S_IFSOCK)
        try running.sync {
            expectSystemError(errno: ECONNREFUSED, containing: path) {
                _ = try UnixSocket.connect(path: path, on: running.loop)
            }
        }
        let accepted = ByteCollector(expected: 2)
        let listener = try running.sync {
            let listener = try UnixListener(loop: running.loop, path: path) { $0.delegate = accepted }
            try UnixSocket.connect(path: path, on: running.loop).write([1, 2])
            return listener
        }
        #expect(accepted.arrived.wait(timeout: .now() + 5) == .success)
        try running.sync { listener.close() }
    }

    @Test func secondListenerOnLivePathThrowsAndLeavesTheFirstWorking() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let running = try RunningLoop()
        defer { running.shutdown() }
        let path = dir.file("b.sock")
        let accepted = ByteCollector(expected: 1)
        let first = try running.sync {
            try UnixListener(loop: running.loop, path: path) { $0.delegate = accepted }
        }
        try running.sync {
            expectSystemError(errno: EADDRINUSE, containing: "another process listens on \(path)") {
                _ = try UnixListener(loop: running.loop, path: path) { _ in }
            }
            try UnixSocket.connect(path: path, on: running.loop).write([42])
        }
        #expect(accepted.arrived.wait(timeout: .now() + 5) == .success)
        try running.sync { first.close() }
    }

    @Test func somethingOtherThanASocketAtThePathIsNeverReplaced() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let running = try RunningLoop()
        defer { running.shutdown() }
        let path = dir.file("b.sock")
        let fd = open(path, O_CREAT | O_WRONLY, mode_t(0o600))
        close(fd)
        try running.sync {
            expectSystemError(errno: EEXIST, containing: "not a socket") {
                _ = try UnixListener(loop: running.loop, path: path) { _ in }
            }
        }
        #expect(fileMode(path).map { $0 & S_IFMT } == S_IFREG)
    }

    @Test func parentDirectoryWritableByOthersIsRefused() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let running = try RunningLoop()
        defer { running.shutdown() }
        #expect(chmod(dir.path, 0o777) == 0)
        try running.sync {
            expectSystemError(errno: EPERM, containing: "writable by group or others (mode 0777)") {
                _ = try UnixListener(loop: running.loop, path: dir.file("b.sock")) { _ in }
            }
        }
        #expect(fileMode(dir.file("b.sock")) == nil)
        #expect(chmod(dir.path, 0o720) == 0)  // group-writable is just as unsafe
        try running.sync {
            expectSystemError(errno: EPERM, containing: "mode 0720") {
                _ = try UnixListener(loop: running.loop, path: dir.file("b.sock")) { _ in }
            }
        }
    }

    @Test func missingParentDirectoryIsRefused() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let running = try RunningLoop()
        defer { running.shutdown() }
        try running.sync {
            expectSystemError(errno: ENOENT, containing: "directory \(dir.file("nope")) of socket") {
                _ = try UnixListener(loop: running.loop, path: dir.file("nope/b.sock")) { _ in }
            }
        }
    }

    @Test func pathAtSunPathLimitWorksAndOneByteMoreIsRefused() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let running = try RunningLoop()
        defer { running.shutdown() }
        #expect(UnixSocket.maxPathBytes == 107)  // unix(7): sun_path[108], NUL-terminated
        let prefix = dir.path + "/"
        let atLimit = prefix + String(repeating: "a", count: UnixSocket.maxPathBytes - prefix.utf8.count)
        let overLimit = prefix + String(repeating: "b", count: UnixSocket.maxPathBytes + 1 - prefix.utf8.count)
        #expect(atLimit.utf8.count == 107 && overLimit.utf8.count == 108)
        let accepted = ByteCollector(expected: 1)
        try running.sync {
            let listener = try UnixListener(loop: running.loop, path: atLimit) { $0.delegate = accepted }
            try UnixSocket.connect(path: atLimit, on: running.loop).write([7])
            running.loop.scheduleTimer(afterSeconds: 5) { listener.close() }
        }
        #expect(accepted.arrived.wait(timeout: .now() + 5) == .success)
        try running.sync {
            expectSystemError(errno: ENAMETOOLONG, containing: "108 bytes, longer than the 107 that fit in sun_path") {
                _ = try UnixListener(loop: running.loop, path: overLimit) { _ in }
            }
            expectSystemError(errno: ENAMETOOLONG, containing: "sun_path") {
                _ = try UnixSocket.connect(path: overLimit, on: running.loop)
            }
        }
        #expect(fileMode(overLimit) == nil)
    }

    @Test func peerCredentialsAreOurOwnUIDAndPID() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let running = try RunningLoop()
        defer { running.shutdown() }
        let path = dir.file("b.sock")
        final class Seen: @unchecked Sendable {
            var server: (uid: uid_t, pid: pid_t)?
            var peer = ""
        }
        let seen = Seen()
        let done = DispatchSemaphore(value: 0)
        let (listener, clientSide) = try running.sync {
            let listener = try UnixListener(loop: running.loop, path: path) { connection in
                seen.server = UnixSocket.peerCredentials(fd: connection.fd)
                seen.peer = connection.peer
                done.signal()
            }
            let connection = try UnixSocket.connect(path: path, on: running.loop)
            return (listener, UnixSocket.peerCredentials(fd: connection.fd))
        }
        #expect(done.wait(timeout: .now() + 5) == .success)
        try running.sync {
            #expect(seen.server?.uid == geteuid())
            #expect(seen.server?.pid == getpid())
            #expect(seen.peer == "unix:uid=\(geteuid()),pid=\(getpid())")
            listener.close()
        }
        // The client sees the listener's credentials (same process here).
        #expect(clientSide?.uid == geteuid())
        #expect(clientSide?.pid == getpid())
        #expect(UnixSocket.peerCredentials(fd: -1) == nil)
    }

    @Test func peerOfAnotherUIDIsClosedAndCounted() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let running = try RunningLoop()
        defer { running.shutdown() }
        let path = dir.file("b.sock")
        final class Accepted: @unchecked Sendable { var count = 0 }
        let accepted = Accepted()
        let client = ByteCollector()
        // We run as one uid; pretending the allowed one is another makes our own peer "foreign".
        let listener = try running.sync {
            let listener = try UnixListener(loop: running.loop, path: path, allowedUID: geteuid() &+ 4242) { _ in
                accepted.count += 1
            }
            let connection = try UnixSocket.connect(path: path, on: running.loop)
            connection.delegate = client
            connection.write(Array("hello".utf8))
            return listener
        }
        #expect(client.closed.wait(timeout: .now() + 5) == .success, "the refused client sees its connection closed")
        try running.sync {
            #expect(listener.refusedPeers == 1)
            #expect(accepted.count == 0)
            #expect(client.received.isEmpty)
            listener.close()
        }
    }

    @Test func otherUIDIsAcceptedWhenSameUIDIsNotRequired() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let running = try RunningLoop()
        defer { running.shutdown() }
        let path = dir.file("b.sock")
        let server = ByteCollector(expected: 1)
        let listener = try running.sync {
            let listener = try UnixListener(
                loop: running.loop, path: path, requireSameUID: false, allowedUID: geteuid() &+ 4242
            ) { $0.delegate = server }
            try UnixSocket.connect(path: path, on: running.loop).write([1])
            return listener
        }
        #expect(server.arrived.wait(timeout: .now() + 5) == .success)
        try running.sync {
            #expect(listener.refusedPeers == 0)
            listener.close()
        }
    }

    @Test func connectToMissingSocketFailsWithENOENT() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let running = try RunningLoop()
        defer { running.shutdown() }
        try running.sync {
            expectSystemError(errno: ENOENT, containing: "connect(\(dir.file("none.sock")))") {
                _ = try UnixSocket.connect(path: dir.file("none.sock"), on: running.loop)
            }
        }
    }

    @Test func connectWhenBacklogIsFullReportsBrokerBusy() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let running = try RunningLoop()
        defer { running.shutdown() }
        let path = dir.file("b.sock")
        // A listener that never accepts, with the smallest backlog.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        #expect(try UnixSocket.withAddress(path: path) { sa, len in bind(fd, sa, len) } == 0)
        #expect(listen(fd, 0) == 0)
        try running.sync {
            var connections: [Connection] = []
            var busy: SystemError?
            for _ in 0..<16 {
                do {
                    connections.append(try UnixSocket.connect(path: path, on: running.loop))
                } catch {
                    busy = error as? SystemError
                    break
                }
            }
            #expect(busy?.errno == EAGAIN)
            #expect(busy?.description.contains("broker busy") == true, "\(String(describing: busy))")
            #expect(!connections.isEmpty)
            connections.forEach { $0.close() }
        }
    }
}
