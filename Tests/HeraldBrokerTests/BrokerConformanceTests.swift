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

    /// Records what a broker publishes to it.
    final class Receiver: BrokerReceiver, @unchecked Sendable {
        private let lock = NSLock()
        private var events: [PublishedEvent] = []

        func publish(_ batch: [PublishedEvent]) {
            lock.lock()
            events += batch
            lock.unlock()
        }

        var published: [PublishedEvent] {
            lock.lock()
            defer { lock.unlock() }
            return events
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
        let outputs = try await broker.submit(
            [try Self.create("a"), .subscribe(topic: .all, since: nil, epoch: nil), .operation(.start(id: "a"))], from: me)
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
            let outputs = try await broker.submit([try Self.create("t\(i)")], from: sender)
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
        _ = try await broker.submit([try Self.create("a")], from: me)
        let outputs = try await broker.submit([.operation(.complete(id: "a", message: nil, result: nil)), try Self.create("a")], from: me)
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
        _ = try await broker.submit([try Self.create("a", owner: "bob"), try Self.create("b")], from: writer)
        let first = try await broker.submit([.subscribe(topic: .owner("bob"), since: nil, epoch: nil)], from: reader)
        guard case .subscription(let snapshot)? = Self.replies(first).first,
              let epoch = (try? JSONParser.parse(snapshot[0]))?["epoch"]?.stringValue else {
            Issue.record("no snapshot")
            return
        }
        _ = try await broker.submit([.operation(.start(id: "a")), .operation(.start(id: "b")), .operation(.cancel(id: "a"))], from: writer)
        let resumed = try await broker.submit([.subscribe(topic: .owner("bob"), since: 2, epoch: epoch)], from: reader)
        guard case .subscription(let messages)? = Self.replies(resumed).first else {
            Issue.record("no resume")
            return
        }
        let parsed = messages.compactMap { try? JSONParser.parse($0) }
        #expect(parsed.first?["type"]?.stringValue == "resumed")
        #expect(parsed.dropFirst().map { $0["seq"]?.numberValue } == [3, 5])  // a's events only
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

    static func makeWithServer() async throws -> (broker: UnixSocketBroker, server: BrokerServer) {
        let loop = try EventLoop()
        EventLoopThread.start(loop, name: "broker-test")
        var template = Array("/tmp/herald-broker-XXXXXX".utf8CString)
        guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            throw BrokerUnavailable("mkdtemp failed")
        }
        let path = dir + "/broker.sock"
        let local = LocalBroker(hub: TaskHub())
        let started = DispatchSemaphore(value: 0)
        final class Box: @unchecked Sendable { var server: BrokerServer?; var error: Error? }
        let box = Box()
        loop.execute {
            do { box.server = try BrokerServer(loop: loop, broker: local, path: path) } catch { box.error = error }
            started.signal()
        }
        started.wait()
        if let error = box.error { throw error }
        servers.append(box.server!)
        return (UnixSocketBroker(path: path, loop: loop), box.server!)
    }

    /// Kept alive for the test process's lifetime.
    nonisolated(unsafe) static var servers: [BrokerServer] = []
}

@Suite struct UnixSocketBrokerTests {
    @Test func aBrokerThatGoesAwayFailsBatchesInsteadOfHangingOrLosingThem() async throws {
        let (broker, server) = try await SocketBrokerFixture.makeWithServer()
        let me = BrokerConformanceTests.Receiver()
        try await broker.attach(me)
        _ = try await broker.submit([try BrokerConformanceTests.create("a")], from: me)
        let closed = DispatchSemaphore(value: 0)
        broker.runOnLoopForTests {
            server.close()
            closed.signal()
        }
        closed.wait()
        try await Task.sleep(for: .milliseconds(50))
        await #expect(throws: BrokerUnavailable.self) {
            _ = try await broker.submit([.operation(.start(id: "a"))], from: me)
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
}
