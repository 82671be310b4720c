import CHeraldLinux
import Glibc
import Testing
@testable import HeraldLoop

/// The stderr writer over a real pipe: lines arrive whole and in order, and a pipe nobody reads
/// never blocks the writing thread: lines are dropped, counted, and reported once it drains.
@Suite struct LogWriterTests {
    /// A pipe with the smallest buffer Linux allows (one page), so it fills at once.
    static func smallPipe() -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        _ = fcntl(fds[1], 1031 /* F_SETPIPE_SZ */, 4096)
        return (fds[0], fds[1])
    }

    /// Reads until `done` holds for what arrived, or 5 s pass.
    static func read(_ fd: Int32, until done: (String) -> Bool) -> String {
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = MonotonicClock.now() + 5_000_000_000
        while MonotonicClock.now() < deadline {
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            text += buffer[0..<n]
            if done(String(decoding: text, as: UTF8.self)) { break }
        }
        return String(decoding: text, as: UTF8.self)
    }

    @Test func linesArriveWholeAndInOrder() {
        let pipe = Self.smallPipe()
        defer { close(pipe.read); close(pipe.write) }
        let writer = LogWriter(fd: pipe.write)
        let lines = (0..<2000).map { "line \($0) " + String(repeating: "x", count: $0 % 300) + "\n" }
        for line in lines { writer.write(line) }
        let text = Self.read(pipe.read) { $0.hasSuffix(lines.last!) }
        #expect(text == lines.joined())
        #expect(writer.flush(timeout: 1))
        #expect(writer.droppedLines == 0)
    }

    @Test func aPipeNobodyReadsNeverBlocksTheWriterAndDropsAreReported() {
        let pipe = Self.smallPipe()
        defer { close(pipe.read); close(pipe.write) }
        let writer = LogWriter(fd: pipe.write, maxQueuedBytes: 64 << 10)
        writer.setDroppedNotice { Array("DROPPED \($0)\n".utf8) }
        let line = "access line " + String(repeating: "y", count: 88) + "\n"  // 101 bytes
        let started = MonotonicClock.now()
        for _ in 0..<20_000 { writer.write(line) }  // 2 MB into a 4 KiB pipe that is not read
        let elapsed = Double(MonotonicClock.now() - started) / 1e9
        #expect(elapsed < 2, "20,000 writes took \(elapsed) s: the caller waited on the pipe")
        #expect(writer.droppedLines > 0)
        #expect(!writer.flush(timeout: 0.2), "a stuck pipe makes flush give up at its timeout")

        // The reader comes back: every queued line arrives whole, and notices (after the lines
        // queued before the loss) count the lost ones; together they are every line written.
        func account(_ text: String) -> (lines: Int, lost: Int, whole: Bool) {
            var lines = 0
            var lost = 0
            var whole = true
            for row in text.split(separator: "\n") {
                if row.hasPrefix("DROPPED ") {
                    lost += Int(row.dropFirst("DROPPED ".count)) ?? 0
                } else {
                    lines += 1
                    whole = whole && row + "\n" == line
                }
            }
            return (lines, lost, whole)
        }
        let text = Self.read(pipe.read) { let seen = account($0); return seen.lines + seen.lost >= 20_000 }
        let seen = account(text)
        #expect(seen.whole)
        #expect(seen.lost > 0)
        #expect(seen.lines + seen.lost == 20_000, "\(seen.lines) lines, \(seen.lost) reported lost")
        #expect(writer.flush(timeout: 1))
    }

    @Test func concurrentWritersNeverSplitALine() async {
        let pipe = Self.smallPipe()
        defer { close(pipe.read); close(pipe.write) }
        let writer = LogWriter(fd: pipe.write)
        await withTaskGroup(of: Void.self) { group in
            for thread in 0..<4 {
                group.addTask {
                    for i in 0..<500 { writer.write("writer \(thread) line \(i) " + String(repeating: "z", count: 40) + "\n") }
                }
            }
        }
        let text = Self.read(pipe.read) { $0.split(separator: "\n").count >= 2000 }
        let lines = text.split(separator: "\n")
        #expect(lines.count == 2000)
        #expect(lines.allSatisfy { $0.hasPrefix("writer ") && $0.hasSuffix(String(repeating: "z", count: 40)) })
    }
}
