import Dispatch
import Glibc
import Testing
@testable import HeraldLoop

/// Echoes every byte back; on EOF closes after flushing.
final class EchoDelegate: ConnectionDelegate {
    var closed = false
    func connection(_ connection: Connection, didRead bytes: UnsafeRawBufferPointer) {
        connection.write(bytes)
    }
    func connectionDidClose(_ connection: Connection) { closed = true }
}

@Suite(.serialized) struct EventLoopTests {
    @Test func executeFromManyThreadsRunsEveryItemOnTheLoop() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        final class Counter: @unchecked Sendable { var value = 0; var offLoop = 0 }
        let counter = Counter()
        let done = DispatchSemaphore(value: 0)
        let loop = running.loop
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<1000 {
                loop.execute {
                    if !loop.inEventLoop { counter.offLoop += 1 }
                    counter.value += 1
                    if counter.value == 4000 { done.signal() }
                }
            }
        }
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(counter.offLoop == 0)
    }

    @Test func timersFireInDeadlineOrderAndCancelledOnesNever() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        final class Log: @unchecked Sendable { var fired: [Int] = [] }
        let log = Log()
        let done = DispatchSemaphore(value: 0)
        try running.sync {
            let loop = running.loop
            loop.scheduleTimer(afterSeconds: 0.03) { log.fired.append(3) }
            loop.scheduleTimer(afterSeconds: 0.01) { log.fired.append(1) }
            let cancelled = loop.scheduleTimer(afterSeconds: 0.02) { log.fired.append(99) }
            loop.scheduleTimer(afterSeconds: 0.02) { log.fired.append(2) }
            loop.cancelTimer(cancelled)
            loop.scheduleTimer(afterSeconds: 0.05) { done.signal() }
        }
        #expect(done.wait(timeout: .now() + 5) == .success)
        #expect(log.fired == [1, 2, 3])
    }

    @Test func timerHeapKeepsOrderUnderRandomScheduleAndCancel() {
        var heap = TimerHeap()
        var rng = SystemRandomNumberGenerator()
        var live: [UInt64: TimerID] = [:]
        for i in 0..<2000 {
            let deadline = UInt64.random(in: 1...10_000, using: &rng)
            live[UInt64(i)] = heap.schedule(at: deadline) {}
            if i % 3 == 0, let victim = live.randomElement(using: &rng) {
                heap.cancel(victim.value)
                live.removeValue(forKey: victim.key)
            }
        }
        #expect(heap.count == live.count)
        var fired = 0
        var last: UInt64 = 0
        for now in stride(from: UInt64(0), through: 10_000, by: 50) {
            let due = heap.popExpired(now: now)
            fired += due.count
            if let e = heap.earliestDeadline { #expect(e > now); #expect(e >= last); last = now }
        }
        #expect(fired == live.count)
        #expect(heap.count == 0)
    }

    @Test func echoesManySmallWritesAndLargePayloadsInOrder() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        let port = try running.sync { () -> Int in
            let listener = try TCPListener(loop: running.loop, host: "127.0.0.1", port: 0) { conn in
                conn.delegate = EchoDelegate()
            }
            return listener.port
        }
        let client = try TestClient(port: port)
        defer { client.close() }
        var expected: [UInt8] = []
        for i in 0..<200 { expected += Array("line \(i)\n".utf8) }
        expected += (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        // Send from another thread while this one reads, so neither side's buffers deadlock.
        let payload = UncheckedSendable(expected)
        let sender = UncheckedSendable(client)
        DispatchQueue.global().async { sender.value.send(payload.value) }
        let echoed = client.receive(count: expected.count)
        #expect(echoed.count == expected.count)
        #expect(echoed == expected)
    }

    @Test func closeAfterFlushDeliversEverythingThenEOF() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        final class Farewell: ConnectionDelegate {
            func connection(_ connection: Connection, didRead bytes: UnsafeRawBufferPointer) {
                connection.write(SharedBytes(Array(repeating: UInt8(ascii: "x"), count: 1_000_000)))
                connection.write(Array("bye".utf8))
                connection.closeAfterFlush()
                connection.write(Array("ignored".utf8))  // after close: dropped
            }
            func connectionDidClose(_ connection: Connection) {}
        }
        let port = try running.sync { () -> Int in
            try TCPListener(loop: running.loop, host: "127.0.0.1", port: 0) { $0.delegate = Farewell() }.port
        }
        let client = try TestClient(port: port)
        defer { client.close() }
        client.send(Array("hi".utf8))
        let all = client.receiveAll()
        #expect(all.count == 1_000_003)
        #expect(Array(all.suffix(3)) == Array("bye".utf8))
    }

    @Test func sendsFileRegionsWithSendfile() throws {
        let path = "/tmp/herald-loop-test-\(getpid()).bin"
        let content = (0..<500_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let wfd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = content.withUnsafeBytes { Glibc.write(wfd, $0.baseAddress, $0.count) }
        _ = Glibc.close(wfd)
        defer { unlink(path) }
        let running = try RunningLoop()
        defer { running.shutdown() }
        final class FileSender: ConnectionDelegate {
            let path: String
            init(path: String) { self.path = path }
            func connection(_ connection: Connection, didRead bytes: UnsafeRawBufferPointer) {
                connection.write(Array("head|".utf8))
                let file = OwnedFileDescriptor(fd: open(path, O_RDONLY))
                connection.write(FileRegion(file: file, offset: 1000, length: 400_000))
                connection.write(Array("|tail".utf8))
                connection.closeAfterFlush()
            }
            func connectionDidClose(_ connection: Connection) {}
        }
        let port = try running.sync { () -> Int in
            try TCPListener(loop: running.loop, host: "127.0.0.1", port: 0) { $0.delegate = FileSender(path: path) }.port
        }
        let client = try TestClient(port: port)
        defer { client.close() }
        client.send([1])
        let all = client.receiveAll()
        #expect(all == Array("head|".utf8) + Array(content[1000..<401_000]) + Array("|tail".utf8))
    }

    @Test func peerCloseFreesTheConnectionAndCallsDidClose() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        final class Watcher: ConnectionDelegate, @unchecked Sendable {
            let closed = DispatchSemaphore(value: 0)
            func connection(_ connection: Connection, didRead bytes: UnsafeRawBufferPointer) {}
            func connectionDidClose(_ connection: Connection) { closed.signal() }
        }
        let watcher = Watcher()
        let port = try running.sync { () -> Int in
            try TCPListener(loop: running.loop, host: "127.0.0.1", port: 0) { $0.delegate = watcher }.port
        }
        let client = try TestClient(port: port)
        client.close()
        #expect(watcher.closed.wait(timeout: .now() + 5) == .success)
        // Only the loop's own fds and the listener remain registered.
        #expect(try running.sync { running.loop.registrationCount } == 1)
    }

    @Test func bindingAPortInUseThrowsAReadableError() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        let message = try running.sync { () -> String in
            let first = try TCPListener(loop: running.loop, host: "127.0.0.1", port: 0) { _ in }
            do {
                _ = try TCPListener(loop: running.loop, host: "127.0.0.1", port: first.port) { _ in }
                return "no error"
            } catch {
                return String(describing: error)
            }
        }
        #expect(message.contains("bind"))
        #expect(message.contains("Address already in use"))
    }

    @Test func nowIsReadAfterTheWaitSoHandlersSeeFreshTime() throws {
        let running = try RunningLoop()
        defer { running.shutdown() }
        final class Stamp: ConnectionDelegate, @unchecked Sendable {
            let got = DispatchSemaphore(value: 0)
            var seen: UInt64 = 0
            func connection(_ connection: Connection, didRead bytes: UnsafeRawBufferPointer) {
                seen = connection.loop.now
                got.signal()
            }
            func connectionDidClose(_ connection: Connection) {}
        }
        let stamp = Stamp()
        let port = try running.sync { () -> Int in
            try TCPListener(loop: running.loop, host: "127.0.0.1", port: 0) { $0.delegate = stamp }.port
        }
        let client = try TestClient(port: port)
        defer { client.close() }
        usleep(200_000)  // the loop sleeps in epoll_wait meanwhile
        let sentAt = MonotonicClock.now()
        client.send([1])
        #expect(stamp.got.wait(timeout: .now() + 5) == .success)
        #expect(stamp.seen >= sentAt)
    }
}

@Suite struct OutputQueueConflationTests {
    static func bytes(_ s: String) -> SharedBytes { SharedBytes(Array(s.utf8)) }

    /// Drains a queue into a pipe and returns what was written.
    static func drain(_ queue: inout OutputQueue) -> String {
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        _ = try? queue.flush(fd: fds[1])
        _ = Glibc.close(fds[1])
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        _ = Glibc.close(fds[0])
        return String(decoding: out, as: UTF8.self)
    }

    @Test func aNewerChunkWithTheSameKeyReplacesTheQueuedOneAtTheTail() {
        var queue = OutputQueue()
        queue.append(Self.bytes("p1|"), conflationKey: 7)
        queue.append(Self.bytes("L|"))
        queue.append(Self.bytes("q1|"), conflationKey: 9)
        queue.append(Self.bytes("p2|"), conflationKey: 7)
        #expect(queue.pendingBytes == 8)  // "L|" + "q1|" + "p2|": p1 is gone
        #expect(queue.conflatedChunks == 1)
        #expect(Self.drain(&queue) == "L|q1|p2|")
        #expect(queue.isEmpty)
    }

    @Test func chunksWithoutAKeyAreNeverDropped() {
        var queue = OutputQueue()
        for i in 0..<100 { queue.append(Self.bytes("\(i),")) }
        #expect(Self.drain(&queue) == (0..<100).map { "\($0)," }.joined())
    }

    @Test func manyReplacementsKeepOnlyTheNewestAndTheQueueDrains() {
        var queue = OutputQueue()
        for i in 0..<10_000 { queue.append(Self.bytes("v\(i);"), conflationKey: UInt64(i % 3)) }
        #expect(queue.pendingBytes == "v9997;v9998;v9999;".utf8.count)
        #expect(queue.chunkCount < 2100)  // dropped slots are compacted away, not kept per event
        #expect(Self.drain(&queue) == "v9997;v9998;v9999;")
    }
}

@Suite struct OutputQueueDiscardTests {
    @Test func discardKeepsTheRestOfAPartlyWrittenChunkOnly() throws {
        var queue = OutputQueue()
        queue.append(SharedBytes(Array(repeating: UInt8(ascii: "a"), count: 200_000)))
        queue.append(SharedBytes(Array("tail".utf8)))
        // A pipe holds 64 KiB: the first chunk is written only in part.
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        _ = try queue.flush(fd: fds[1])
        let left = queue.pendingBytes
        #expect(left > 4 && left < 200_004)
        queue.removeUnstarted()
        #expect(queue.pendingBytes == left - 4)  // "tail" dropped, the rest of the first chunk kept
        _ = Glibc.close(fds[0])
        _ = Glibc.close(fds[1])
    }
}
