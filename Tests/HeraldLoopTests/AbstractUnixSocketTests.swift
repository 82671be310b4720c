import Dispatch
import Glibc
import Testing
@testable import HeraldLoop

/// `@name`: a socket in Linux's abstract namespace (what `serve --workers N --data :memory:`
/// uses for its broker): no file, freed with the socket, guarded by peer credentials only.
@Suite(.serialized) struct AbstractUnixSocketTests {
    static func freshName(_ tag: String = "t") -> String {
        "@herald-test-\(tag)-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
    }

    /// The names in /proc/net/unix (abstract ones start with `@` there too).
    static func boundNames() -> Set<String> {
        guard let file = fopen("/proc/net/unix", "r") else { return [] }
        defer { fclose(file) }
        var names = Set<String>()
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        while getline(&line, &capacity, file) > 0 {
            let fields = String(cString: line!).split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 8 { names.insert(String(fields[7].filter { $0 != "\n" })) }
        }
        free(line)
        return names
    }

    @Test func anAbstractNameExchangesBytesLeavesNoFileAndGoesWithTheSocket() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        let name = Self.freshName()
        let server = ByteCollector(expected: 3, echo: true)
        let client = ByteCollector(expected: 3)
        let (listener, connection) = try running.sync {
            let listener = try UnixListener(loop: running.loop, path: name) { $0.delegate = server }
            let connection = try UnixSocket.connect(path: name, on: running.loop)
            connection.delegate = client
            connection.write([1, 2, 3])
            return (listener, connection)
        }
        #expect(server.arrived.wait(timeout: .now() + 5) == .success)
        #expect(client.arrived.wait(timeout: .now() + 5) == .success)
        try running.sync { #expect(client.received == [1, 2, 3]) }
        #expect(Self.boundNames().contains(name))
        var st = stat()
        #expect(lstat(name, &st) != 0 && lstat(String(name.dropFirst()), &st) != 0, "no file of that name anywhere here")
        // Accepted connections carry the listener's name too (in /proc/net/unix): close all.
        try running.sync {
            listener.close()
            connection.close()
        }
        #expect(server.closed.wait(timeout: .now() + 5) == .success)
        #expect(!Self.boundNames().contains(name), "the name went with the sockets")
        // And it is free again at once: no stale file to find and remove.
        try running.sync { try UnixListener(loop: running.loop, path: name) { _ in }.close() }
    }

    @Test func aSecondListenerOnALiveNameIsRefused() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        let name = Self.freshName()
        let first = try running.sync { try UnixListener(loop: running.loop, path: name) { _ in } }
        try running.sync {
            do {
                _ = try UnixListener(loop: running.loop, path: name) { _ in }
                Issue.record("a second listener bound \(name)")
            } catch let error as SystemError {
                #expect(error.errno == EADDRINUSE)
                #expect(error.description.contains("another process listens on \(name)"))
            }
            first.close()
        }
    }

    @Test func aPeerOfAnotherUIDIsRefusedOnAnAbstractName() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        let name = Self.freshName()
        let client = ByteCollector()
        let listener = try running.sync {
            let listener = try UnixListener(loop: running.loop, path: name, allowedUID: geteuid() &+ 4242) { _ in }
            let connection = try UnixSocket.connect(path: name, on: running.loop)
            connection.delegate = client
            return listener
        }
        #expect(client.closed.wait(timeout: .now() + 5) == .success)
        try running.sync {
            #expect(listener.refusedPeers == 1)
            listener.close()
        }
    }

    @Test func theNameLimitIsThatOfAPathAndAnEmptyNameIsRefused() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        let prefix = Self.freshName("limit")
        let atLimit = prefix + String(repeating: "a", count: UnixSocket.maxPathBytes - prefix.utf8.count)
        let overLimit = atLimit + "b"
        #expect(atLimit.utf8.count == 107)
        try running.sync {
            let listener = try UnixListener(loop: running.loop, path: atLimit) { _ in }
            _ = try UnixSocket.connect(path: atLimit, on: running.loop)
            #expect(Self.boundNames().contains(atLimit))
            listener.close()
            for (path, code) in [(overLimit, ENAMETOOLONG), ("@", EINVAL)] {
                do {
                    _ = try UnixListener(loop: running.loop, path: path) { _ in }
                    Issue.record("bound \(path)")
                } catch let error as SystemError {
                    #expect(error.errno == code, "\(error)")
                }
            }
        }
    }

    /// Anyone may bind a free abstract name: a server process must not send its tasks to a
    /// listener of another user that took the broker's name. Needs root, to be another user.
    @Test(.enabled(if: geteuid() == 0 && access("/usr/bin/python3", X_OK) == 0 && access("/usr/bin/setpriv", X_OK) == 0,
                   "needs root (to run a listener as another uid), /usr/bin/python3 and setpriv"))
    func connectRefusesAListenerOfAnotherUser() throws {
        let name = Self.freshName("foreign")
        let script = "import socket,time; s=socket.socket(socket.AF_UNIX); s.bind('\\0' + '\(name.dropFirst())'); s.listen(); time.sleep(30)"
        let child = try #require(spawnProcess("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--pdeathsig", "KILL", "--", "/usr/bin/python3", "-c", script]))
        defer {
            kill(child, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(child, &status, 0)
        }
        var bound = false
        for _ in 0..<200 where !bound {  // 10 s
            bound = Self.boundNames().contains(name)
            if !bound { usleep(50_000) }
        }
        try #require(bound, "the other user's listener did not start")
        let running = try RunningLoop()
        defer { running.shutdown() }
        try running.sync {
            do {
                _ = try UnixSocket.connect(path: name, on: running.loop)
                Issue.record("connected to uid 65534's listener on \(name)")
            } catch let error as SystemError {
                #expect(error.errno == EACCES)
                #expect(error.description.contains("uid 65534"), "\(error)")
            }
        }
    }
}
