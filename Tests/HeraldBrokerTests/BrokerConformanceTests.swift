import Dispatch
import Foundation
import HeraldBroker
import HeraldLoop
import HeraldTasks
import HeraldWire
import Testing

/// One suite for every `Broker` implementation (the way centrifuge runs one suite over its
/// memory and Redis brokers). Add an implementation to `implementations` and it must pass.
@Suite struct BrokerConformanceTests {
    struct Implementation: CustomStringConvertible, Sendable {
        let description: String
        let make: @Sendable () async throws -> Broker
    }

    static let implementations: [Implementation] = [
        Implementation(description: "LocalBroker") { LocalBroker(hub: TaskHub()) },
        Implementation(description: "UnixSocketBroker") { try await SocketBrokerFixture.make() },
    ]

    /// Records everything a broker tells it, in the order it was told, and turns `submit` back
    /// into a call that returns the batch's outputs (or throws when the batch failed).
    final class Receiver: BrokerReceiver, @unchecked Sendable {
        private let lock = NSLock()
        private var events: [PublishedEvent] = []
        private var seen: [UInt64] = []
        private var waiting: [UInt64: CheckedContinuation<[HubOutput], Error>] = [:]
        private var nextBatch: UInt64 = 0
        private var resyncCount = 0

        private func locked<T>(_ body: () -> T) -> T {
            lock.lock()
            defer { lock.unlock() }
            return body()
        }

        func publish(_ batch: [PublishedEvent]) {
            locked {
                events += batch
                seen += batch.map(\.seq)
            }
        }

        func complete(batch: UInt64, _ outputs: [HubOutput]) {
            let waiter = locked { () -> CheckedContinuation<[HubOutput], Error>? in
                seen += BrokerConformanceTests.events(outputs).map(\.seq)
                return waiting.removeValue(forKey: batch)
            }
            waiter?.resume(returning: outputs)
        }

        func batchFailed(_ batch: UInt64, reason: String) {
            locked { waiting.removeValue(forKey: batch) }?.resume(throwing: BrokerUnavailable(reason))
        }

        func attached(epoch: String, seq: UInt64, missed: [PublishedEvent]?) {
            locked {
                if let missed { seen += missed.map(\.seq) } else { resyncCount += 1 }
            }
        }

        /// Events of others, as published.
        var published: [PublishedEvent] { locked { events } }
        /// Every seq heard, from any call, in the order heard.
        var seqsSeen: [UInt64] { locked { seen } }
        var resyncs: Int { locked { resyncCount } }

        func submit(_ requests: [TaskRequest], to broker: Broker) async throws -> [HubOutput] {
            try await withCheckedThrowingContinuation { (answer: CheckedContinuation<[HubOutput], Error>) in
                let batch = locked { () -> UInt64 in
                    nextBatch += 1
                    waiting[nextBatch] = answer
                    return nextBatch
                }
                Task { await broker.submit(requests, batch: batch, from: self) }
            }
        }
    }

    static func create(_ id: String, owner: String? = nil) throws -> TaskRequest {
        let owned = owner.map { ",\"owner\":\"\($0)\"" } ?? ""
        return .operation(.create(try TaskValidation.create(Array("{\"id\":\"\(id)\",\"title\":\"T\"\(owned)}".utf8))))
    }

    static func events(_ outputs: [HubOutput]) -> [PublishedEvent] {
        outputs.compactMap { if case .event(let e) = $0 { return e } else { return nil } }
    }

    static func replies(_ outputs: [HubOutput]) -> [TaskReply] {
        outputs.compactMap { if case .reply(_, let r) = $0 { return r } else { return nil } }
    }

    @Test(arguments: implementations)
    func eachReplySitsAfterTheEventsThatPrecedeIt(_ implementation: Implementation) async throws {
        let broker = try await implementation.make()
        let me = Receiver()
        try await broker.attach(me)
        let outputs = try await me.submit(
            [try Self.create("a"), .subscribe(topic: .all, since: nil, epoch: nil), .operation(.start(id: "a"))], to: broker)
        let order = outputs.map { output -> String in
            switch output {
            case .event(let e): return "e\(e.seq)"
            case .reply(let i, _): return "r\(i)"
            }
        }
        #expect(order == ["e1", "r0", "r1", "e2", "r2"])
        #expect(me.published.isEmpty)  // the caller's own events come back with its outputs only
    }

    @Test(arguments: implementations)
    func everyOtherReceiverGetsEachEventOnceInSeqOrder(_ implementation: Implementation) async throws {
        let broker = try await implementation.make()
        let a = Receiver(), b = Receiver(), c = Receiver()
        for r in [a, b, c] { try await broker.attach(r) }
        var fromA: [UInt64] = [], fromB: [UInt64] = []
        for i in 0..<20 {
            let (sender, other) = i % 2 == 0 ? (a, b) : (b, a)
            let outputs = try await sender.submit([try Self.create("t\(i)")], to: broker)
            if sender === a { fromA += Self.events(outputs).map(\.seq) } else { fromB += Self.events(outputs).map(\.seq) }
            _ = other
        }
        try await waitUntil { c.published.count == 20 }
        #expect(c.published.map(\.seq) == Array(1...20))
        #expect(a.published.map(\.seq) == fromB)  // A hears B's events, not its own
        #expect(b.published.map(\.seq) == fromA)
    }

    @Test(arguments: implementations)
    func refusedRequestsChangeNothingAndPublishNothing(_ implementation: Implementation) async throws {
        let broker = try await implementation.make()
        let me = Receiver(), other = Receiver()
        try await broker.attach(me)
        try await broker.attach(other)
        _ = try await me.submit([try Self.create("a")], to: broker)
        let outputs = try await me.submit([.operation(.complete(id: "a", message: nil, result: nil)), try Self.create("a")], to: broker)
        #expect(Self.events(outputs).isEmpty)
        let codes = Self.replies(outputs).compactMap { if case .failure(let e) = $0 { return e.code } else { return nil } }
        #expect(codes == ["invalid_transition", "already_exists"])
        try await Task.sleep(for: .milliseconds(50))
        #expect(other.published.count == 1)  // only the create
    }

    @Test(arguments: implementations)
    func aSubscriberOnAnyReceiverResumesExactly(_ implementation: Implementation) async throws {
        let broker = try await implementation.make()
        let writer = Receiver(), reader = Receiver()
        try await broker.attach(writer)
        try await broker.attach(reader)
        _ = try await writer.submit([try Self.create("a", owner: "bob"), try Self.create("b")], to: broker)
        let first = try await reader.submit([.subscribe(topic: .owner("bob"), since: nil, epoch: nil)], to: broker)
        guard case .subscription(let snapshot)? = Self.replies(first).first,
              let epoch = (try? JSONParser.parse(snapshot[0]))?["epoch"]?.stringValue else {
            Issue.record("no snapshot")
            return
        }
        _ = try await writer.submit([.operation(.start(id: "a")), .operation(.start(id: "b")), .operation(.cancel(id: "a"))], to: broker)
        let resumed = try await reader.submit([.subscribe(topic: .owner("bob"), since: 2, epoch: epoch)], to: broker)
        guard case .subscription(let messages)? = Self.replies(resumed).first else {
            Issue.record("no resume")
            return
        }
        let parsed = messages.compactMap { try? JSONParser.parse($0) }
        #expect(parsed.first?["type"]?.stringValue == "resumed")
        #expect(parsed.dropFirst().map { $0["seq"]?.numberValue } == [3, 5])  // a's events only
    }

    /// Receivers submitting at once, plus lease ticks: each hears every seq exactly once and in
    /// order, whether it came as its own outputs or as others' events (nothing overtakes).
    @Test(arguments: implementations)
    func everyReceiverHearsEverySeqOnceInOrderUnderConcurrentLoad(_ implementation: Implementation) async throws {
        let broker = try await implementation.make()
        let receivers = [Receiver(), Receiver(), Receiver()]
        for r in receivers { try await broker.attach(r) }
        let perReceiver = 60
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (n, r) in receivers.enumerated() {
                group.addTask {
                    for i in 0..<perReceiver {
                        let id = "c\(n)-\(i)"
                        // Two batches in flight at once from the same receiver, then a third.
                        async let first = r.submit([try Self.create(id)], to: broker)
                        async let second = r.submit([.get(id: "missing")], to: broker)
                        _ = try await (first, second)
                        _ = try await r.submit([.operation(.start(id: id)), .operation(.progress(id: id, try TaskValidation.progress(Array(#"{"done":1}"#.utf8))))], to: broker)
                    }
                }
            }
            try await group.waitForAll()
        }
        let total = UInt64(receivers.count * perReceiver * 3)
        try await waitUntil { receivers.allSatisfy { $0.seqsSeen.count >= Int(total) } }
        for r in receivers { #expect(r.seqsSeen == Array(1...total)) }
    }

    private func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<200 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
    }
}

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
        servers.append(box.server!)
        return (UnixSocketBroker(path: path, loop: loop), box.server!)
    }

    /// Kept alive for the test process's lifetime.
    nonisolated(unsafe) static var servers: [BrokerServer] = []

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

    /// Another server process on the same broker: its own `UnixSocketBroker` and loop.
    static func secondProcess(path: String) throws -> UnixSocketBroker {
        let loop = try EventLoop()
        EventLoopThread.start(loop, name: "broker-test-2")
        return UnixSocketBroker(path: path, loop: loop)
    }
}

@Suite struct UnixSocketBrokerTests {
    @Test func aBrokerThatGoesAwayFailsBatchesInsteadOfHangingOrLosingThem() async throws {
        let (broker, server) = try await SocketBrokerFixture.makeWithServer()
        let me = BrokerConformanceTests.Receiver()
        try await broker.attach(me)
        _ = try await me.submit([try BrokerConformanceTests.create("a")], to: broker)
        let closed = DispatchSemaphore(value: 0)
        broker.runOnLoopForTests {
            server.close()
            closed.signal()
        }
        closed.wait()
        try await Task.sleep(for: .milliseconds(50))
        await #expect(throws: BrokerUnavailable.self) {
            _ = try await me.submit([.operation(.start(id: "a"))], to: broker)
        }
    }

    @Test func aDisconnectedServerProcessIsNoLongerSentEvents() async throws {
        let (broker, server) = try await SocketBrokerFixture.makeWithServer()
        let hub = server.localBrokerForTests.hub
        let me = BrokerConformanceTests.Receiver()
        try await broker.attach(me)
        #expect(await hub.sinkCount == 1)
        let closed = DispatchSemaphore(value: 0)
        broker.runOnLoopForTests {
            server.close()  // drops every peer connection
            closed.signal()
        }
        closed.wait()
        for _ in 0..<200 where await hub.sinkCount > 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(await hub.sinkCount == 0)
    }

    @Test func attachingToNoBrokerIsAClearError() async throws {
        let loop = try EventLoop()
        EventLoopThread.start(loop, name: "no-broker")
        let broker = UnixSocketBroker(path: "/tmp/herald-no-such-dir/broker.sock", loop: loop)
        do {
            try await broker.attach(BrokerConformanceTests.Receiver())
            Issue.record("attached to nothing")
        } catch let error as BrokerUnavailable {
            #expect(error.description.contains("/tmp/herald-no-such-dir/broker.sock"))
        }
        loop.stop()
    }

    static func createMany(_ prefix: String, _ count: Int, meta: String = "") throws -> [TaskRequest] {
        try (0..<count).map { i in
            let body = meta.isEmpty ? "{\"id\":\"\(prefix)\(i)\",\"title\":\"T\"}"
                : "{\"id\":\"\(prefix)\(i)\",\"title\":\"T\",\"meta\":{\"blob\":\"\(meta)\"}}"
            return .operation(.create(try TaskValidation.create(Array(body.utf8))))
        }
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

    /// The connection drops while events happen: the link reconnects with its last seq and the
    /// broker replays exactly what it missed — no gap, no duplicate, no resync.
    @Test func aReconnectResumesFromTheLastSeqWithoutAGap() async throws {
        let (broker, server) = try await SocketBrokerFixture.makeWithServer()
        let hub = server.localBrokerForTests.hub
        let me = BrokerConformanceTests.Receiver()
        try await broker.attach(me)
        _ = try await me.submit(try Self.createMany("a", 5), to: broker)
        let restarted = try await Self.whileAway(broker, server) {
            _ = await hub.handle(try Self.createMany("b", 10))
        }
        defer { Self.onLoop(broker) { restarted.close() } }
        try await Self.waitUntil { me.seqsSeen.count >= 15 }
        #expect(me.seqsSeen == Array(1...15))
        #expect(me.resyncs == 0)
        #expect(broker.status.reconnects == 1)
        #expect(broker.status.replayedEvents == 10)
        #expect(broker.status.connected)
        _ = try await me.submit(try Self.createMany("c", 1), to: broker)
        #expect(me.seqsSeen == Array(1...16))
    }

    /// Missed more than the broker's history holds: the receiver is told to resync (its
    /// subscribers resume by themselves) and hears the live stream from there on.
    @Test func aReconnectPastTheHistoryAsksForAResync() async throws {
        var tasks = TaskHubConfiguration()
        tasks.historySize = 4
        let (broker, server) = try await SocketBrokerFixture.makeWithServer(tasks: tasks)
        let hub = server.localBrokerForTests.hub
        let me = BrokerConformanceTests.Receiver()
        try await broker.attach(me)
        _ = try await me.submit(try Self.createMany("a", 2), to: broker)
        let restarted = try await Self.whileAway(broker, server) {
            _ = await hub.handle(try Self.createMany("b", 10))
        }
        defer { Self.onLoop(broker) { restarted.close() } }
        try await Self.waitUntil { me.resyncs == 1 }
        #expect(me.resyncs == 1)
        #expect(broker.status.resyncs == 1)
        _ = try await me.submit(try Self.createMany("c", 1), to: broker)
        #expect(me.seqsSeen == [1, 2, 13])
    }

    /// A `tasks` snapshot bigger than one 16 MiB frame (100,000 real tasks are ~43 MiB) crosses
    /// the socket as fragments and arrives whole.
    @Test func aSnapshotLargerThanOneFrameArrivesWhole() async throws {
        let (broker, server) = try await SocketBrokerFixture.makeWithServer()
        let hub = server.localBrokerForTests.hub
        let me = BrokerConformanceTests.Receiver()
        try await broker.attach(me)
        let blob = String(repeating: "y", count: 3000)
        for round in 0..<60 { _ = await hub.handle(try Self.createMany("big\(round)-", 100, meta: blob)) }
        let outputs = try await me.submit([.subscribe(topic: .all, since: nil, epoch: nil)], to: broker)
        guard case .subscription(let messages)? = BrokerConformanceTests.replies(outputs).first else {
            Issue.record("no snapshot")
            return
        }
        #expect(messages[0].count > BrokerFrame.maxFrameBytes)
        let snapshot = try JSONParser.parse(messages[0])
        #expect(snapshot["tasks"]?.arrayValue?.count == 6000)
        #expect(snapshot["seq"]?.numberValue == 6000)
    }

    /// A server process that stops reading is cut off once its queue passes the cap, instead of
    /// growing the broker's memory; the others are not affected.
    @Test func aStuckServerProcessIsCutOff() async throws {
        let (broker, server) = try await SocketBrokerFixture.makeWithServer(maxPeerQueueBytes: 64 << 10)
        let hub = server.localBrokerForTests.hub
        let healthy = BrokerConformanceTests.Receiver()
        try await broker.attach(healthy)
        // A raw client that says hello and then never reads.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(broker.path.utf8CString)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.enumerated() { raw[i] = UInt8(bitPattern: byte) }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(connected == 0)
        let hello = BrokerFrameEncoder.encode(.hello(version: BrokerFrame.protocolVersion, processName: "stuck", lastSeq: 0, epoch: ""))
        #expect(hello.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == hello.count)
        try await Self.waitUntil { await hub.sinkCount == 2 }
        #expect(await hub.sinkCount == 2)
        let blob = String(repeating: "x", count: 4000)
        // A stream, not one burst: the check runs as each batch is sent, once earlier output
        // is still waiting. Bounded: 300 rounds are ~12 MB, far past the socket buffer + 64 KiB.
        var rounds = 0
        while rounds < 300, Self.onLoop(broker, { server.peersCutOff }) == 0 {
            _ = await hub.handle(try Self.createMany("r\(rounds)-", 10, meta: blob))
            rounds += 1
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(Self.onLoop(broker) { server.peersCutOff } == 1)
        let total = UInt64(rounds * 10)
        try await Self.waitUntil { healthy.seqsSeen.count >= Int(total) }
        #expect(healthy.seqsSeen == Array(1...total), "\(broker.status)")
    }
}

final class LoopResult<T>: @unchecked Sendable {
    var value: T?
}
