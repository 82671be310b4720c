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
        Implementation(description: "RedisBroker") { try RedisBrokerFixture.make() },
    ]

    static func create(_ id: String, owner: String? = nil, meta: String? = nil) throws -> TaskRequest {
        let owned = owner.map { ",\"owner\":\"\($0)\"" } ?? ""
        let blob = meta.map { ",\"meta\":{\"blob\":\"\($0)\"}" } ?? ""
        return .operation(.create(try TaskValidation.create(Array("{\"id\":\"\(id)\",\"title\":\"T\"\(owned)\(blob)}".utf8))))
    }

    static func createMany(_ prefix: String, _ count: Int, meta: String? = nil) throws -> [TaskRequest] {
        try (0..<count).map { try create("\(prefix)\($0)", meta: meta) }
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
        try await SocketBrokerFixture.waitUntil { c.published.count == 20 }
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
        try await SocketBrokerFixture.waitUntil { receivers.allSatisfy { $0.seqsSeen.count >= Int(total) } }
        for r in receivers { #expect(r.seqsSeen == Array(1...total)) }
    }
}
