import Glibc
import Testing

@testable import HeraldLoop

/// The flush that gathers small chunks into the loop's scratch buffer before one write(2):
/// the bytes must leave exactly as queued — in order, none twice, none lost — whether a write
/// takes all of a gathered run or only part of it, and around dropped chunks and files.
@Suite struct OutputQueueGatherTests {
    static let scratchSize = 16 * 1024

    /// A connected pair of stream sockets, the writing end non-blocking with a small send buffer
    /// so that writes are cut short.
    static func socketPair(smallBuffer: Bool) -> (write: Int32, read: Int32) {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        if smallBuffer {
            var size: Int32 = 4096
            _ = setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        return (fds[0], fds[1])
    }

    /// Flushes `queue` through `scratch` until it is empty, reading whatever the socket holds
    /// after each flush (in reads of an odd size, so writes and reads do not line up).
    static func drain(_ queue: inout OutputQueue, scratch: UnsafeMutableRawBufferPointer?, smallBuffer: Bool = true) throws -> [UInt8] {
        let (w, r) = socketPair(smallBuffer: smallBuffer)
        defer {
            _ = Glibc.close(w)
            _ = Glibc.close(r)
        }
        _ = fcntl(r, F_SETFL, O_NONBLOCK)
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 997)
        var rounds = 0
        while true {
            let result = try queue.flush(fd: w, scratch: scratch)
            while true {
                let n = buf.withUnsafeMutableBytes { read(r, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                out += buf[0..<n]
            }
            if result == .drained { return out }
            rounds += 1
            if rounds > 100_000 { Issue.record("the queue never drained"); return out }
        }
    }

    static func chunk(_ i: Int, size: Int) -> [UInt8] {
        (0..<size).map { UInt8(truncatingIfNeeded: i &* 31 &+ $0) }
    }

    @Test func smallChunksLeaveInOrderThroughTheScratch() throws {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.scratchSize, alignment: 16)
        defer { scratch.deallocate() }
        var queue = OutputQueue()
        var expected: [UInt8] = []
        for i in 0..<40 {
            let bytes = Self.chunk(i, size: 20 + i)
            expected += bytes
            if i % 3 == 0 {
                bytes.withUnsafeBytes { queue.append($0) }  // own, coalesced with the next own ones
            } else {
                queue.append(SharedBytes(bytes))
            }
        }
        #expect(try Self.drain(&queue, scratch: scratch, smallBuffer: false) == expected)
        #expect(queue.isEmpty)
    }

    @Test func writesCutShortInsideAGatheredRunResumeAtTheRightByte() throws {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.scratchSize, alignment: 16)
        defer { scratch.deallocate() }
        var queue = OutputQueue()
        var expected: [UInt8] = []
        // 2,000 frames of 100–1,100 bytes: many full scratch loads, each written only in part.
        for i in 0..<2000 {
            let bytes = Self.chunk(i, size: 100 + (i * 37) % 1001)
            expected += bytes
            queue.append(SharedBytes(bytes))
        }
        #expect(try Self.drain(&queue, scratch: scratch) == expected)
        #expect(queue.isEmpty)
    }

    @Test func droppedChunksAreSkippedAndTheNewestKept() throws {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.scratchSize, alignment: 16)
        defer { scratch.deallocate() }
        var queue = OutputQueue()
        queue.append(SharedBytes(Array("p1|".utf8)), conflationKey: 1)
        queue.append(SharedBytes(Array("a|".utf8)))
        queue.append(SharedBytes(Array("p2|".utf8)), conflationKey: 1)
        queue.append(SharedBytes(Array("b|".utf8)))
        queue.append(SharedBytes(Array("p3|".utf8)), conflationKey: 1)
        #expect(try Self.drain(&queue, scratch: scratch) == Array("a|b|p3|".utf8))
    }

    @Test func largeChunksAndAScratchTooSmallFallBackToWritev() throws {
        var expected: [UInt8] = []
        var queue = OutputQueue()
        for i in 0..<50 {  // averages ~5 KiB: not gathered
            let bytes = Self.chunk(i, size: i % 2 == 0 ? 10_000 : 10)
            expected += bytes
            queue.append(SharedBytes(bytes))
        }
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.scratchSize, alignment: 16)
        defer { scratch.deallocate() }
        #expect(try Self.drain(&queue, scratch: scratch) == expected)

        let tiny = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 16)  // smaller than a run
        defer { tiny.deallocate() }
        var small = OutputQueue()
        expected = []
        for i in 0..<30 {
            let bytes = Self.chunk(i, size: 50)
            expected += bytes
            small.append(SharedBytes(bytes))
        }
        #expect(try Self.drain(&small, scratch: tiny) == expected)
    }

    @Test func aFileEndsTheGatheredRunAndGoesOutInBetween() throws {
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.scratchSize, alignment: 16)
        defer { scratch.deallocate() }
        var template = Array("/tmp/herald-gather-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        #expect(fd >= 0)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        let content = Self.chunk(7, size: 30_000)
        _ = content.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let file = OwnedFileDescriptor(fd: fd)

        var queue = OutputQueue()
        var expected: [UInt8] = []
        for i in 0..<5 {
            let bytes = Self.chunk(i, size: 40)
            expected += bytes
            queue.append(SharedBytes(bytes))
        }
        queue.append(FileRegion(file: file, offset: 100, length: 20_000))
        expected += content[100..<20_100]
        for i in 5..<10 {
            let bytes = Self.chunk(i, size: 40)
            expected += bytes
            queue.append(SharedBytes(bytes))
        }
        #expect(try Self.drain(&queue, scratch: scratch) == expected)
    }
}

/// The own buffer a busy connection keeps between turns: reused from the second drain on,
/// never for a connection that had one answer only, and never leaking old bytes.
@Suite struct OutputQueueSpareBufferTests {
    static func own(_ queue: inout OutputQueue, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { queue.append($0) }
    }

    @Test func aQueueDrainedOnceKeepsNoBufferAndABusyOneReusesItsOwn() throws {
        var queue = OutputQueue()
        Self.own(&queue, Array("HTTP/1.1 101 Switching Protocols\r\n\r\n".utf8))
        _ = try OutputQueueGatherTests.drain(&queue, scratch: nil, smallBuffer: false)
        #expect(!queue.holdsSpareBuffer)  // S3: an idle connection after its one answer holds nothing

        var expected: [UInt8] = []
        var written: [UInt8] = []
        for turn in 0..<6 {
            // Turns of growing and shrinking size, one past the spare's capacity among them.
            let size = [10, 3000, 5, 20_000, 7, 100][turn]
            let bytes = OutputQueueGatherTests.chunk(turn, size: size)
            expected = bytes
            Self.own(&queue, bytes)
            written = try OutputQueueGatherTests.drain(&queue, scratch: nil, smallBuffer: false)
            #expect(written == expected)  // exactly this turn's bytes: nothing left from the last one
        }
        #expect(queue.holdsSpareBuffer)
    }

    @Test func aBufferPastTheLimitIsNotKept() throws {
        var queue = OutputQueue()
        for _ in 0..<2 {
            Self.own(&queue, [UInt8](repeating: 65, count: OutputQueue.spareLimit + 1))
            _ = try OutputQueueGatherTests.drain(&queue, scratch: nil, smallBuffer: false)
        }
        #expect(!queue.holdsSpareBuffer)
    }
}
