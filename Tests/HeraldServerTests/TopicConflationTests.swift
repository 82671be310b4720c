import Foundation
import Glibc
import HeraldLoop
@testable import HeraldServer
@testable import HeraldTasks
import HeraldWire
import Testing

/// Topic-level conflation through `TopicRegistry`, on a real loop: subscribers are
/// `WebSocketConnection`s over socketpairs whose far ends the tests read (or leave unread).
@Suite struct TopicConflationTests {
    /// A loop on its own thread, a registry on it, and subscribers made on it.
    final class Harness: @unchecked Sendable {
        let loop: EventLoop
        let registry: TopicRegistry
        let context: ServerContext
        let root: String

        init(maxQueuedBytes: Int = ServerConfiguration().maxSubscriberQueueBytes) throws {
            root = "/tmp/herald-conflation-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            mkdir(root, 0o755)
            let configuration = ServerConfiguration()
            context = ServerContext(configuration: configuration,
                                    router: Router(configuration: configuration, staticFiles: try StaticFileServer(root: root)))
            registry = TopicRegistry(maxQueuedBytes: maxQueuedBytes)
            loop = try EventLoop()
            EventLoopThread.start(loop, name: "conflation-test")
        }

        deinit {
            loop.stop()
            rmdir(root)
        }

        /// Runs `work` on the loop thread and waits for it (and for the turn's flushes).
        func onLoop<T>(_ work: @escaping () -> T) -> T {
            let result = LoopResult<T>()
            nonisolated(unsafe) let work = work
            loop.execute {
                result.value = work()
                result.done.signal()
            }
            result.done.wait()
            return result.value!
        }

        /// A subscriber of `topics`; the returned fd is its peer, with small buffers so a
        /// reader that does not read falls behind at once.
        func subscriber(_ topics: [String]) -> (socket: WebSocketConnection, peer: Int32) {
            var fds: [Int32] = [0, 0]
            precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
            var small: Int32 = 4096
            setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            let socket = onLoop { [self] () -> WebSocketConnection in
                let connection = try! Connection.adopt(fd: fds[0], on: loop)
                let route = WebSocketRoute(maxMessageSize: 1 << 20) { _ in RegistryEndpoint(self.registry) }
                let socket = WebSocketConnection(connection: connection, context: context, route: route,
                                                 head: HTTPRequestHead(method: "GET", target: "/ws"))
                connection.delegate = socket
                socket.start(leftover: ByteBuffer())
                for topic in topics { registry.add(socket, topic: topic) }
                return socket
            }
            return (socket, fds[1])
        }
    }

    final class LoopResult<T>: @unchecked Sendable {
        var value: T?
        let done = DispatchSemaphore(value: 0)
    }

    /// What a subscriber endpoint does with the registry (TopicEndpoint, without the actor).
    final class RegistryEndpoint: WebSocketEndpoint {
        let registry: TopicRegistry
        init(_ registry: TopicRegistry) { self.registry = registry }
        func opened(_ socket: WebSocketConnection) {}
        func received(_ socket: WebSocketConnection, kind: WebSocketMessageKind, payload: [UInt8]) {}
        func drained(_ socket: WebSocketConnection) { registry.drained(socket) }
        func closed(_ socket: WebSocketConnection) { registry.removeAll(socket) }
    }

    struct Frame {
        var opcode: UInt8
        var payload: [UInt8]
        var json: JSONObject {
            guard case .object(let object)? = try? JSONParser.parse(payload) else { return JSONObject() }
            return object
        }
        var seq: UInt64 { UInt64(json["seq"]?.numberValue ?? -1) }
        var topic: String { json["topic"]?.stringValue ?? "" }
        var task: String { json["task"]?.stringValue ?? "" }
        var type: String { json["type"]?.stringValue ?? "" }
    }

    /// Reads frames from `fd` until `done` says so or nothing comes for `quietMs`.
    static func read(_ fd: Int32, quietMs: Int32 = 1500, until done: ([Frame]) -> Bool = { _ in false }) -> [Frame] {
        var bytes: [UInt8] = []
        var frames: [Frame] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !done(frames) {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, quietMs) > 0 else { break }
            let n = Glibc.read(fd, &chunk, chunk.count)
            guard n > 0 else { break }
            bytes += chunk[0..<n]
            // Server frames are unmasked (RFC 6455 §5.1).
            while bytes.count >= 2 {
                var length = Int(bytes[1] & 0x7F)
                var start = 2
                if length == 126 {
                    guard bytes.count >= 4 else { break }
                    length = Int(bytes[2]) << 8 | Int(bytes[3])
                    start = 4
                } else if length == 127 {
                    guard bytes.count >= 10 else { break }
                    length = bytes[2..<10].reduce(0) { $0 << 8 | Int($1) }
                    start = 10
                }
                guard bytes.count >= start + length else { break }
                frames.append(Frame(opcode: bytes[0] & 0x0F, payload: Array(bytes[start..<start + length])))
                bytes.removeFirst(start + length)
            }
        }
        return frames
    }

    /// One event of `task` on `topics`; progress is padded so a few hundred of them pass the
    /// conflation threshold.
    static func event(seq: UInt64, task: String, progress: Bool, topics: [String] = ["tasks"], pad: Int = 300) -> PublishedEvent {
        let type = progress ? "progress" : "task.updated"
        let padding = String(repeating: "x", count: pad)
        let messages = topics.map { topic in
            (topic: topic, json: Array(#"{"type":"\#(type)","topic":"\#(topic)","task":"\#(task)","seq":\#(seq),"pad":"\#(padding)"}"#.utf8))
        }
        return PublishedEvent(seq: seq, taskID: task, isProgress: progress, taskJSON: [], messages: messages)
    }

    static func strictlyIncreasing(_ seqs: [UInt64]) -> Bool {
        zip(seqs, seqs.dropFirst()).allSatisfy { $0 < $1 }
    }

    @Test func slowReaderGetsLifecycleInOrderAndEveryTasksNewestProgress() throws {
        let h = try Harness()
        let (_, peer) = h.subscriber(["tasks"])
        let (_, fastPeer) = h.subscriber(["tasks"])
        defer { close(peer); close(fastPeer) }
        var newest: [String: UInt64] = [:]
        var lifecycle: [UInt64] = []
        var seq: UInt64 = 0
        // Three bursts, each pushed in one loop turn (nothing written in between), so the queue
        // passes the threshold and the subscriber conflates.
        for _ in 0..<3 {
            var events: [PublishedEvent] = []
            for i in 0..<1000 {
                seq += 1
                let task = "t\(i % 10)"
                let progress = i % 97 != 0
                if !progress { lifecycle.append(seq) }
                newest[task] = seq
                events.append(Self.event(seq: seq, task: task, progress: progress))
            }
            h.onLoop { for event in events { h.registry.deliver(event) } }
        }
        let lastSeq = seq
        let frames = Self.read(peer) { $0.last?.seq == lastSeq }
        let fast = Self.read(fastPeer) { $0.last?.seq == lastSeq }
        let seqs = frames.map(\.seq)
        #expect(Self.strictlyIncreasing(seqs))
        #expect(Set(lifecycle).isSubset(of: Set(seqs)), "a lifecycle event was dropped")
        var last: [String: UInt64] = [:]
        for frame in frames { last[frame.task] = frame.seq }
        #expect(last == newest)
        // Conflated (a queued reader of 64 KiB skips superseded progress), counted, and the
        // other subscriber (conflating too: it read nothing during the bursts) ends the same way.
        #expect(frames.count < 3000)
        #expect(h.onLoop { h.registry.progressConflated } > 0)
        #expect(Self.strictlyIncreasing(fast.map(\.seq)))
        #expect(fast.last?.seq == lastSeq)
    }

    @Test func aTopicGoesFromOneSubscriberToManyAndBackWithoutLosingOrDoublingFrames() throws {
        // A topic with one subscriber keeps just that socket; a second one (or the first falling
        // behind) brings the subscribers object. Every step must deliver exactly once.
        let h = try Harness()
        let (a, peerA) = h.subscriber(["t"])
        let (b, peerB) = h.subscriber([])
        defer { close(peerA); close(peerB) }
        h.onLoop { h.registry.add(a, topic: "t") }  // twice: still one subscription
        h.onLoop { h.registry.deliver(Self.event(seq: 1, task: "x", progress: false, topics: ["t"])) }
        #expect(Self.read(peerA, quietMs: 300).map(\.seq) == [1])
        h.onLoop { h.registry.add(b, topic: "t") }
        h.onLoop { h.registry.add(b, topic: "u") }
        #expect(h.onLoop { (h.registry.subscriptionCount, h.registry.subscriberCount) } == (3, 2))
        h.onLoop { h.registry.remove(b, topic: "u") }
        h.onLoop { h.registry.remove(b, topic: "u") }  // twice: counted once
        #expect(h.onLoop { (h.registry.subscriptionCount, h.registry.subscriberCount) } == (2, 2))
        h.onLoop { h.registry.deliver(Self.event(seq: 2, task: "x", progress: true, topics: ["t"])) }
        #expect(Self.read(peerA, quietMs: 300).map(\.seq) == [2])
        #expect(Self.read(peerB, quietMs: 300).map(\.seq) == [2])
        h.onLoop { h.registry.remove(a, topic: "t") }
        h.onLoop { h.registry.deliver(Self.event(seq: 3, task: "x", progress: false, topics: ["t"])) }
        #expect(Self.read(peerA, quietMs: 300).isEmpty)
        #expect(Self.read(peerB, quietMs: 300).map(\.seq) == [3])
        #expect(h.onLoop { h.registry.isSubscribed(b, topic: "t") && !h.registry.isSubscribed(a, topic: "t") })
        h.onLoop { h.registry.removeAll(b) }
        #expect(h.onLoop { h.registry.subscriptionCount } == 0)
        h.onLoop { h.registry.deliver(Self.event(seq: 4, task: "x", progress: false, topics: ["t"])) }
        #expect(Self.read(peerB, quietMs: 300).isEmpty)
        // Back to a single subscriber: from nothing, then removed through removeAll.
        h.onLoop { h.registry.add(a, topic: "t") }
        h.onLoop { h.registry.deliver(Self.event(seq: 5, task: "x", progress: true, topics: ["t"])) }
        #expect(Self.read(peerA, quietMs: 300).map(\.seq) == [5])
        h.onLoop { h.registry.removeAll(a) }
        h.onLoop { h.registry.deliver(Self.event(seq: 6, task: "x", progress: false, topics: ["t"])) }
        #expect(Self.read(peerA, quietMs: 300).isEmpty)
        #expect(h.onLoop { h.registry.subscriberCount } == 0)
    }

    @Test func conflatingSubscriberTakesHeldProgressWhenItDrains() throws {
        let h = try Harness()
        let (socket, peer) = h.subscriber(["tasks"])
        defer { close(peer) }
        var newest: [String: UInt64] = [:]
        let events = (1...2000).map { seq -> PublishedEvent in
            let task = "t\(seq % 7)"
            newest[task] = UInt64(seq)
            return Self.event(seq: UInt64(seq), task: task, progress: true)
        }
        let conflating = h.onLoop { () -> Bool in
            for event in events { h.registry.deliver(event) }
            return !socket.conflatingTopics.isEmpty
        }
        #expect(conflating)
        // No lifecycle event follows: the newest progress per task must come with the drain.
        let frames = Self.read(peer) { frames in
            var last: [String: UInt64] = [:]
            for frame in frames { last[frame.task] = frame.seq }
            return last == newest
        }
        var last: [String: UInt64] = [:]
        for frame in frames { last[frame.task] = frame.seq }
        #expect(last == newest)
        #expect(Self.strictlyIncreasing(frames.map(\.seq)))
        // Caught up, it is a normal subscriber again: the next event arrives as it is.
        #expect(h.onLoop { socket.conflatingTopics.isEmpty })
        h.onLoop { h.registry.deliver(Self.event(seq: 2001, task: "t0", progress: true)) }
        #expect(Self.read(peer) { $0.last?.seq == 2001 }.map(\.seq) == [2001])
    }

    @Test func subscriberOfTwoTopicsStaysInSeqOrderOnBoth() throws {
        let h = try Harness()
        let (socket, peer) = h.subscriber(["tasks", "task:t1"])
        defer { close(peer) }
        var newest: [String: UInt64] = [:]  // "topic task" → seq
        var lifecycle: [String] = []
        var events: [PublishedEvent] = []
        for seq in UInt64(1)...2500 {
            let task = "t\(seq % 5)"
            let topics = task == "t1" ? ["tasks", "task:t1"] : ["tasks"]
            let progress = seq % 101 != 0
            for topic in topics {
                newest["\(topic) \(task)"] = seq
                if !progress { lifecycle.append("\(topic) \(seq)") }
            }
            events.append(Self.event(seq: seq, task: task, progress: progress, topics: topics))
        }
        let both = h.onLoop { () -> Int in
            for event in events { h.registry.deliver(event) }
            return socket.conflatingTopics.count
        }
        #expect(both == 2)
        h.onLoop { h.registry.deliver(Self.event(seq: 2501, task: "t1", progress: false, topics: ["tasks", "task:t1"])) }
        let frames = Self.read(peer) { $0.filter { $0.seq == 2501 }.count == 2 }
        // Across both topics seqs never go back (an event of both comes once per topic).
        #expect(zip(frames, frames.dropFirst()).allSatisfy { $0.seq <= $1.seq })
        for topic in ["tasks", "task:t1"] {
            let mine = frames.filter { $0.topic == topic }
            #expect(Self.strictlyIncreasing(mine.map(\.seq)), "\(topic)")
            var last: [String: UInt64] = [:]
            for frame in mine where frame.seq <= 2500 { last["\(topic) \(frame.task)"] = frame.seq }
            #expect(last == newest.filter { $0.key.hasPrefix(topic + " ") }, "\(topic)")
            #expect(Set(lifecycle.filter { $0.hasPrefix(topic + " ") }).isSubset(of: Set(mine.map { "\(topic) \($0.seq)" })))
        }
    }

    @Test func unsubscribeWhileConflatingQueuesWhatWasHeldAndNothingAfter() throws {
        let h = try Harness()
        let (socket, peer) = h.subscriber(["tasks"])
        let (_, otherPeer) = h.subscriber(["tasks"])
        defer { close(peer); close(otherPeer) }
        var newest: [String: UInt64] = [:]
        let events = (UInt64(1)...1500).map { seq -> PublishedEvent in
            newest["t\(seq % 4)"] = seq
            return Self.event(seq: seq, task: "t\(seq % 4)", progress: true)
        }
        let state = h.onLoop { () -> (Bool, Bool, Int) in
            for event in events { h.registry.deliver(event) }
            let wasConflating = !socket.conflatingTopics.isEmpty
            h.registry.remove(socket, topic: "tasks")
            for seq in UInt64(1501)...1600 { h.registry.deliver(Self.event(seq: seq, task: "t0", progress: seq % 2 == 0)) }
            return (wasConflating, h.registry.isSubscribed(socket, topic: "tasks"), h.registry.subscriptionCount)
        }
        #expect(state.0)
        #expect(!state.1)
        #expect(state.2 == 1)
        #expect(h.onLoop { socket.conflatingTopics.isEmpty })
        let frames = Self.read(peer, quietMs: 800)
        var last: [String: UInt64] = [:]
        for frame in frames { last[frame.task] = frame.seq }
        #expect(last == newest)
        #expect(frames.allSatisfy { $0.seq <= 1500 })
        #expect(Self.strictlyIncreasing(frames.map(\.seq)))
        // The other subscriber, still conflating, gets everything after as before.
        #expect(Self.read(otherPeer) { $0.last?.seq == 1600 }.last?.seq == 1600)
    }

    /// Lifecycle frames of exactly 4 KiB: 1,024 of them fill the 4 MiB cap exactly.
    static func lifecycle(seq: UInt64) -> PublishedEvent {
        let bare = Self.event(seq: seq, task: "t", progress: false, pad: 0).messages[0].json.count
        return Self.event(seq: seq, task: "t", progress: false, pad: 4092 - bare)
    }

    @Test func capClosesWith1008PastTheLimitNotAtIt() throws {
        let cap = ServerConfiguration().maxSubscriberQueueBytes
        let h = try Harness(maxQueuedBytes: cap)
        let (socket, peer) = h.subscriber(["tasks"])
        defer { close(peer) }
        #expect(Self.lifecycle(seq: 1).messages[0].json.count + 4 == 4096)
        // One loop turn: nothing is written to the socket in between.
        let (atCap, past) = h.onLoop { () -> ((Int, Bool), (Bool, UInt64)) in
            for seq in UInt64(1)...UInt64(cap / 4096) { h.registry.deliver(Self.lifecycle(seq: seq)) }
            let atCap = (socket.connection.pendingOutputBytes, socket.connection.isOpen)
            h.registry.deliver(Self.lifecycle(seq: UInt64(cap / 4096) + 1))
            return (atCap, (socket.connection.isOpen, h.registry.slowSubscribersClosed))
        }
        #expect(atCap.0 == cap)
        #expect(atCap.1, "closed at the limit")
        #expect(!past.0)
        #expect(past.1 == 1)
        let close = Self.read(peer, quietMs: 500).first { $0.opcode == 0x8 }
        #expect(close.map { UInt16($0.payload[0]) << 8 | UInt16($0.payload[1]) } == 1008)
    }

    @Test func conflatingSubscriberIsStillClosedPastTheCap() throws {
        let cap = ServerConfiguration().maxSubscriberQueueBytes
        let h = try Harness(maxQueuedBytes: cap)
        let (socket, peer) = h.subscriber(["tasks"])
        defer { close(peer) }
        let closed = h.onLoop { () -> (seq: UInt64, queuedBefore: Int)? in
            // Progress alone never passes the cap once conflating; lifecycle events do.
            for seq in UInt64(1)...5000 { h.registry.deliver(Self.event(seq: seq, task: "t\(seq % 3)", progress: true)) }
            guard !socket.conflatingTopics.isEmpty, socket.connection.pendingOutputBytes < 2 * TopicRegistry.conflationBacklogBytes
            else { return nil }
            for seq in UInt64(5001)...8000 {
                let before = socket.connection.pendingOutputBytes
                h.registry.deliver(seq % 2 == 0 ? Self.lifecycle(seq: seq) : Self.event(seq: seq, task: "t0", progress: true))
                if !socket.connection.isOpen { return (seq, before) }
            }
            return nil
        }
        let closedAt = closed?.seq ?? 0
        #expect(closedAt > 5000)
        // Closed by the frame that took it past the cap (a 4 KiB one plus held progress).
        #expect((closed?.queuedBefore ?? 0) > cap - 2 * 4096)
        #expect((closed?.queuedBefore ?? .max) <= cap)
        let close = Self.read(peer, quietMs: 500).first { $0.opcode == 0x8 }
        let reason = close.map { String(decoding: $0.payload.dropFirst(2), as: UTF8.self) }
        #expect(reason == "subscriber too slow: resume with since=\(closedAt ?? 0)")
    }
}
