import Dispatch
import Foundation
import HeraldBroker
import HeraldLoop
import HeraldTasks
import HeraldWire
import Testing

/// A broker server and its socket client on a loop of their own, over a real Unix socket in a
/// private temp directory: the same path a `herald broker` and its server processes take.
enum SocketBrokerFixture {
    static func make() async throws -> Broker {
        try await makeWithServer().broker
    }

    static func makeWithServer(tasks: TaskHubConfiguration = TaskHubConfiguration(),
                               maxPeerQueueBytes: Int = BrokerServer.defaultMaxPeerQueueBytes) async throws
        -> (broker: UnixSocketBroker, server: BrokerServer) {
        let loop = try EventLoop()
        EventLoopThread.start(loop, name: "broker-test")
        var template = Array("/tmp/herald-broker-XXXXXX".utf8CString)
        guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            throw BrokerUnavailable("mkdtemp failed")
        }
        let path = dir + "/broker.sock"
        removeAtExit(dir)
        let local = LocalBroker(hub: TaskHub(configuration: tasks))
        let started = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { var server: BrokerServer?; var error: Error? }
        let box = Box()
        loop.execute {
            do { box.server = try BrokerServer(loop: loop, broker: local, path: path, maxPeerQueueBytes: maxPeerQueueBytes) } catch { box.error = error }
            started.signal()
        }
        started.wait()
        if let error = box.error { throw error }
        keepAlive(box.server!)
        return (UnixSocketBroker(path: path, loop: loop), box.server!)
    }

    /// Kept alive for the test process's lifetime. Tests run in parallel: every access holds
    /// `serversLock` (ThreadSanitizer caught two fixtures appending at once).
    nonisolated(unsafe) static var servers: [BrokerServer] = []
    static let serversLock = NSLock()

    static func keepAlive(_ server: BrokerServer) {
        serversLock.lock()
        defer { serversLock.unlock() }
        servers.append(server)
    }

    /// The socket directories, removed when the test process exits (the servers live until then).
    nonisolated(unsafe) static var directories: [String] = []
    static let directoriesLock = NSLock()

    static func removeAtExit(_ dir: String) {
        directoriesLock.lock()
        defer { directoriesLock.unlock() }
        if directories.isEmpty {
            atexit {
                for dir in SocketBrokerFixture.directories {
                    unlink(dir + "/broker.sock")
                    unlink(dir + "/broker.sock.lock")
                    rmdir(dir)
                }
            }
        }
        directories.append(dir)
    }

    static func onLoop<T: Sendable>(_ broker: UnixSocketBroker, _ body: @escaping @Sendable () -> T) -> T {
        let box = LoopResult<T>(), done = DispatchSemaphore(value: 0)
        broker.runOnLoopForTests {
            box.value = body()
            done.signal()
        }
        done.wait()
        return box.value!
    }

    /// Closes the broker's socket (its peers drop and cannot come back), runs `body` while the
    /// receivers are away, then listens again on the same path with the same actor — a broker
    /// restart in the same epoch — and returns the new server. No race with the 0.1 s reconnect.
    static func whileAway(_ broker: UnixSocketBroker, _ server: BrokerServer,
                          _ body: () async throws -> Void) async throws -> BrokerServer {
        onLoop(broker) { server.close() }
        let hub = server.localBrokerForTests.hub
        try await waitUntil { await hub.sinkCount == 0 }
        #expect(await hub.sinkCount == 0)
        try await body()
        let local = server.localBrokerForTests
        let path = broker.path
        let loop = server.loopForTests
        let restarted: Result<BrokerServer, SystemError> = onLoop(broker) {
            Result { () throws(SystemError) -> BrokerServer in try BrokerServer(loop: loop, broker: local, path: path) }
        }
        return try restarted.get()
    }

    static func waitUntil(_ condition: () async -> Bool) async throws {
        for _ in 0..<500 where !(await condition()) { try await Task.sleep(for: .milliseconds(10)) }
    }
}

final class LoopResult<T>: @unchecked Sendable {
    var value: T?
}
