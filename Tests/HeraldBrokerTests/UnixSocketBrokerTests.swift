import Dispatch
import Foundation
import HeraldBroker
import HeraldLoop
import HeraldTasks
import HeraldWire
import Testing

/// What only the Unix-socket broker has: reconnects and resume, a stuck peer cut off, frames
/// larger than one, a broker that goes away.
@Suite struct UnixSocketBrokerTests {
    @Test func aBrokerThatGoesAwayFailsBatchesInsteadOfHangingOrLosingThem() async throws {
        let (broker, server) = try await SocketBrokerFixture.makeWithServer()
        let me = BrokerConformanceTests.Receiver()
        try await broker.attach(me)
        _ = try await me.submit([try BrokerConformanceTests.create("a")], to: broker)
        SocketBrokerFixture.onLoop(broker) { server.close() }
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
        SocketBrokerFixture.onLoop(broker) { server.close() }  // drops every peer connection
        try await SocketBrokerFixture.waitUntil { await hub.sinkCount == 0 }
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

    /// The connection drops while events happen: the link reconnects with its last seq and the
    /// broker replays exactly what it missed — no gap, no duplicate, no resync.
    @Test func aReconnectResumesFromTheLastSeqWithoutAGap() async throws {
        let (broker, server) = try await SocketBrokerFixture.makeWithServer()
        let hub = server.localBrokerForTests.hub
        let me = BrokerConformanceTests.Receiver()
        try await broker.attach(me)
        _ = try await me.submit(try BrokerConformanceTests.createMany("a", 5), to: broker)
        let restarted = try await SocketBrokerFixture.whileAway(broker, server) {
            _ = await hub.handle(try BrokerConformanceTests.createMany("b", 10))
        }
        defer { SocketBrokerFixture.onLoop(broker) { restarted.close() } }
        try await SocketBrokerFixture.waitUntil { me.seqsSeen.count >= 15 }
        #expect(me.seqsSeen == Array(1...15))
        #expect(me.resyncs == 0)
        #expect(broker.status.reconnects == 1)
        #expect(broker.status.replayedEvents == 10)
        #expect(broker.status.connected)
        _ = try await me.submit(try BrokerConformanceTests.createMany("c", 1), to: broker)
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
        _ = try await me.submit(try BrokerConformanceTests.createMany("a", 2), to: broker)
        let restarted = try await SocketBrokerFixture.whileAway(broker, server) {
            _ = await hub.handle(try BrokerConformanceTests.createMany("b", 10))
        }
        defer { SocketBrokerFixture.onLoop(broker) { restarted.close() } }
        try await SocketBrokerFixture.waitUntil { me.resyncs == 1 }
        #expect(me.resyncs == 1)
        #expect(broker.status.resyncs == 1)
        _ = try await me.submit(try BrokerConformanceTests.createMany("c", 1), to: broker)
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
        for round in 0..<60 { _ = await hub.handle(try BrokerConformanceTests.createMany("big\(round)-", 100, meta: blob)) }
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
        try await SocketBrokerFixture.waitUntil { await hub.sinkCount == 2 }
        #expect(await hub.sinkCount == 2)
        let blob = String(repeating: "x", count: 4000)
        // A stream, not one burst: the check runs as each batch is sent, once earlier output
        // is still waiting. Bounded: 300 rounds are ~12 MB, far past the socket buffer + 64 KiB.
        var rounds = 0
        while rounds < 300, SocketBrokerFixture.onLoop(broker, { server.peersCutOff }) == 0 {
            _ = await hub.handle(try BrokerConformanceTests.createMany("r\(rounds)-", 10, meta: blob))
            rounds += 1
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(SocketBrokerFixture.onLoop(broker) { server.peersCutOff } == 1)
        let total = UInt64(rounds * 10)
        try await SocketBrokerFixture.waitUntil { healthy.seqsSeen.count >= Int(total) }
        #expect(healthy.seqsSeen == Array(1...total), "\(broker.status)")
    }
}
