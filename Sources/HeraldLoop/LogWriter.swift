import CHeraldLinux
import Glibc

/// Lines for a file descriptor (stderr), written by a thread of their own, so that a slow or
/// stuck reader of stderr never stalls an event loop: `write` only appends to a buffer under a
/// mutex. When stderr is a pipe nobody reads, the writer thread blocks in write(2); lines queue
/// up to `maxQueuedBytes`, then new ones are dropped and counted, and once the reader catches up
/// a notice says how many were lost. The loop never waits on the fd.
public final class LogWriter: @unchecked Sendable {
    /// The process's stderr: every log line, access line and `listening on` line goes through
    /// it, so they keep their order.
    public static let standardError = LogWriter(fd: 2)

    /// 4 MiB: ~20,000 access lines, some seconds of a busy server's log, to ride out a burst or
    /// a reader's pause; past that, memory would grow without bound for a reader that is gone.
    public static let defaultMaxQueuedBytes = 4 << 20

    /// Linux makes a write of at most PIPE_BUF bytes to a pipe atomic (pipe(7)): the workers of
    /// `serve --workers N` share one stderr, and whole lines in writes this small never interleave.
    static let atomicWriteBytes = 4096

    /// 2 ms: a busy server's log is written ~500 times a second in whole batches instead of
    /// once per line (a syscall and a thread wake-up each), and no one reading a log notices.
    static let gatherMicroseconds: UInt32 = 2000

    private let fd: Int32
    private let maxQueuedBytes: Int
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wakeUp = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Under the mutex:
    private var queue: [UInt8] = []
    private var dropped = 0
    private var enqueued: UInt64 = 0  // bytes accepted so far
    private var written: UInt64 = 0   // of those, handed to write(2) (or given up on)
    private var started = false
    /// The writer thread waits on `wakeUp` (nothing queued): only then does a write signal it.
    private var idle = false
    /// The line that reports `count` dropped lines, in the log's format.
    private var droppedNotice: @Sendable (Int) -> [UInt8] = { count in
        Array("herald: \(count) log lines dropped: stderr was not read fast enough\n".utf8)
    }

    public init(fd: Int32, maxQueuedBytes: Int = LogWriter.defaultMaxQueuedBytes) {
        self.fd = fd
        self.maxQueuedBytes = maxQueuedBytes
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        wakeUp.initialize(to: pthread_cond_t())
        pthread_cond_init(wakeUp, nil)
    }

    // The shared writers live as long as the process; a test's own one is never freed while its
    // thread runs, so no deinit tears the mutex down under it.

    /// How the "lines dropped" notice is written (JSON in `--log-format json`).
    public func setDroppedNotice(_ notice: @escaping @Sendable (Int) -> [UInt8]) {
        locked { droppedNotice = notice }
    }

    /// Queues `line` (which ends with a newline). Never blocks on the fd.
    public func write(_ line: [UInt8]) {
        line.withUnsafeBytes { write($0) }
    }

    public func write(_ line: String) {
        var line = line
        line.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    public func write(_ line: UnsafeRawBufferPointer) {
        pthread_mutex_lock(mutex)
        if queue.count + line.count > maxQueuedBytes && !queue.isEmpty {
            dropped += 1
        } else {
            queue.append(contentsOf: line)
            enqueued &+= UInt64(line.count)
            if !started {
                started = true
                startThread()
            }
            // A busy writer comes back for the queue by itself: no futex call per line.
            if idle { pthread_cond_signal(wakeUp) }
        }
        pthread_mutex_unlock(mutex)
    }

    /// Lines dropped so far because the queue was full.
    public var droppedLines: Int { locked { dropped } }

    /// Waits until everything queued before this call has been written, or `timeout` seconds
    /// passed (a stderr nobody reads must not keep a stopping process alive). True when drained.
    @discardableResult
    public func flush(timeout: Double) -> Bool {
        let target = locked { enqueued }
        let deadline = MonotonicClock.now() + UInt64(max(0, timeout) * 1e9)
        while locked({ written }) < target {
            if MonotonicClock.now() >= deadline { return false }
            usleep(1000)
        }
        return true
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    private func startThread() {
        final class Box: @unchecked Sendable {
            let writer: LogWriter
            init(_ writer: LogWriter) { self.writer = writer }
        }
        // The thread starts with every signal blocked (it inherits the mask it is created with):
        // SIGTERM must reach the loop's signalfd, not kill the process from this thread.
        var all = sigset_t()
        var previous = sigset_t()
        sigfillset(&all)
        pthread_sigmask(SIG_SETMASK, &all, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Box(self)).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let box = Unmanaged<AnyObject>.fromOpaque(raw!).takeRetainedValue() as! Box
            _ = herald_linux_set_thread_name("herald-log")
            box.writer.run()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        pthread_detach(thread)
    }

    /// The writer thread: takes the whole queue at once, writes it in line-aligned chunks.
    private func run() {
        var batch: [UInt8] = []
        while true {
            pthread_mutex_lock(mutex)
            while queue.isEmpty && dropped == 0 {
                idle = true
                pthread_cond_wait(wakeUp, mutex)
                idle = false
            }
            swap(&batch, &queue)
            let lost = dropped
            dropped = 0
            let notice = droppedNotice
            pthread_mutex_unlock(mutex)

            let count = UInt64(batch.count)
            writeLines(batch)
            if lost > 0 { writeLines(notice(lost)) }
            batch.removeAll(keepingCapacity: batch.count <= 64 << 10)
            locked { written &+= count }
            // Let lines gather: under load one write(2) then carries hundreds of them, and the
            // loop threads never wake this one. A line waits at most this long when the log
            // is busy; a quiet log's line is written as soon as it is queued.
            usleep(Self.gatherMicroseconds)
        }
    }

    private func writeLines(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { all in
            var start = 0
            while start < all.count {
                var end = min(all.count, start + Self.atomicWriteBytes)
                if end < all.count {
                    // Cut after the last newline in the chunk; a longer line goes out alone.
                    var cut = end
                    while cut > start && all[cut - 1] != UInt8(ascii: "\n") { cut -= 1 }
                    if cut > start {
                        end = cut
                    } else {
                        end = start
                        while end < all.count && all[end] != UInt8(ascii: "\n") { end += 1 }
                        end = min(all.count, end + 1)
                    }
                }
                if !writeFully(UnsafeRawBufferPointer(rebasing: all[start..<end])) { return }
                start = end
            }
        }
    }

    /// False when the fd is unusable (closed stderr, EPIPE): the rest of the batch is dropped.
    private func writeFully(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n > 0 {
                offset += n
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                // Someone made the shared file description non-blocking: wait for room.
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&pfd, 1, 100)
            } else {
                return false
            }
        }
        return true
    }
}
