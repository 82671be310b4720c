import CHeraldLinux
import Glibc

/// One connection's pending output: its own coalesced bytes, shared (fan-out) bytes and file
/// regions, written in order with writev(2) and sendfile(2).
struct OutputQueue {
    enum Chunk {
        case own(GrowableBytes)
        case shared(SharedBytes)
        case file(FileRegion)
        /// A conflated chunk that was superseded before any of it was written.
        case dropped

        var count: Int {
            switch self {
            case .own(let b): return b.count
            case .shared(let s): return s.count
            case .file(let f): return f.length
            case .dropped: return 0
            }
        }
    }

    enum FlushResult { case drained, wouldBlock, budgetSpent }

    /// Small writes are copied into the tail buffer up to this size; bigger ones get their own.
    static let coalesceLimit = 64 * 1024
    /// IOV_MAX is 1024 on Linux; 64 iovecs already amortise the syscall well.
    static let maxIOVecs = 64
    /// Bytes written per connection per loop turn, so one fast reader cannot starve the others.
    static let flushBudget = 4 * 1024 * 1024

    private var chunks: [Chunk] = []
    private var head = 0          // index of the first unwritten chunk
    private var headOffset = 0    // bytes of chunks[head] already written
    private(set) var pendingBytes = 0
    /// Made by the first conflated append: most connections never conflate, and inline its
    /// counters made every one 16 bytes bigger (S3). A class, so the queue must not be copied
    /// (it never is: it lives inline in its `Connection`).
    private var conflation: Conflation?
    /// Set at the first drain: from then on the chunk array keeps its capacity when it drains
    /// (a busy connection reuses it every turn, S1a), while the array that carried only the
    /// first answer (a WebSocket's 101, then idle: S3) is given back.
    private var drainedBefore = false
    /// A busy connection's last own buffer, emptied at its drain and reused for the next turn's
    /// bytes: a new one per turn was a 4 KiB malloc and free outside glibc's per-thread cache
    /// (S2: one per publisher turn, ~1k instructions). Kept from the second drain on, like the
    /// chunk array's capacity, so a connection that only ever had one answer (S3) holds none.
    private var spare: GrowableBytes?
    static let spareLimit = 16 * 1024
    var holdsSpareBuffer: Bool { spare != nil }

    private final class Conflation {
        /// Conflation key → index of its queued chunk, for chunks that may still be superseded.
        var slots: [UInt64: Int] = [:]
        var conflatedChunks: UInt64 = 0
        var droppedInQueue = 0
    }

    var conflatedChunks: UInt64 { conflation?.conflatedChunks ?? 0 }

    var chunkCount: Int { chunks.count - head }

    var isEmpty: Bool { pendingBytes == 0 && head == chunks.count }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        pendingBytes += bytes.count
        // Coalesce into the tail buffer; pointers are re-derived at each flush, so growing it is safe
        // even when writev already sent part of it.
        if case .own(let tail)? = chunks.last, tail.count + bytes.count <= Self.coalesceLimit {
            tail.append(bytes)
            return
        }
        let buffer: GrowableBytes
        if let spare, spare.capacity >= bytes.count {
            buffer = spare
            self.spare = nil
        } else {
            buffer = GrowableBytes(capacity: max(bytes.count, 4096))
        }
        buffer.append(bytes)
        chunks.append(.own(buffer))
    }

    mutating func append(_ shared: SharedBytes) {
        guard shared.count > 0 else { return }
        pendingBytes += shared.count
        chunks.append(.shared(shared))
    }

    /// Appends `shared`, first dropping an earlier chunk queued under the same key if none of it
    /// has been written yet. The newest goes to the tail, so what is sent stays in order.
    mutating func append(_ shared: SharedBytes, conflationKey key: UInt64) {
        let conflation = self.conflation ?? Conflation()
        self.conflation = conflation
        if let index = conflation.slots[key], index >= head, !(index == head && headOffset > 0) {
            pendingBytes -= chunks[index].count
            chunks[index] = .dropped
            conflation.conflatedChunks += 1
            conflation.droppedInQueue += 1
        }
        append(shared)
        conflation.slots[key] = chunks.count - 1
        // A reader that never reads would otherwise collect one dropped slot per event.
        if conflation.droppedInQueue > 1024 && conflation.droppedInQueue * 2 > chunks.count - head {
            removeDroppedChunks(conflation)
        }
    }

    private mutating func removeDroppedChunks(_ conflation: Conflation) {
        var newIndex = [Int](repeating: -1, count: chunks.count)
        var kept: [Chunk] = []
        kept.reserveCapacity(chunks.count - head - conflation.droppedInQueue)
        for i in head..<chunks.count {
            if case .dropped = chunks[i] { continue }
            newIndex[i] = kept.count
            kept.append(chunks[i])
        }
        chunks = kept
        head = 0  // the head chunk is never dropped while partly written, so headOffset still applies
        conflation.slots = conflation.slots.compactMapValues { $0 < newIndex.count && newIndex[$0] >= 0 ? newIndex[$0] : nil }
        conflation.droppedInQueue = 0
    }

    mutating func append(_ file: FileRegion) {
        guard file.length > 0 else { return }
        pendingBytes += file.length
        chunks.append(.file(file))
    }

    /// Drops everything not yet started; a chunk already partly written is kept, so the peer
    /// never sees a frame cut in half.
    mutating func removeUnstarted() {
        guard headOffset > 0, head < chunks.count else {
            removeAll()
            return
        }
        let partial = chunks[head]
        let offset = headOffset
        removeAll()
        chunks = [partial]
        headOffset = offset
        pendingBytes = partial.count - offset
    }

    mutating func removeAll() {
        chunks.removeAll()
        conflation?.slots.removeAll()
        conflation?.droppedInQueue = 0
        head = 0
        headOffset = 0
        pendingBytes = 0
    }

    /// Writes until the queue is empty, the socket would block, or the turn's budget is spent.
    /// Small chunks are first gathered into `scratch` (see `writeVector`); without it, every
    /// chunk is its own iovec.
    mutating func flush(fd: Int32, scratch: UnsafeMutableRawBufferPointer? = nil) throws(SystemError) -> FlushResult {
        var written = 0
        while head < chunks.count {
            if chunks[head].count == headOffset {  // dropped (conflated) or empty
                advance(by: 0)
                continue
            }
            if written >= Self.flushBudget { return .budgetSpent }
            let n: Int
            if case .file(let region) = chunks[head] {
                guard let sent = try sendFile(fd: fd, region: region) else { return .wouldBlock }
                n = sent
            } else {
                guard let sent = try writeVector(fd: fd, scratch: scratch) else { return .wouldBlock }
                n = sent
            }
            written += n
            advance(by: n)
        }
        return .drained
    }

    /// The TLS flush: queued chunks are copied into `scratch` up to one record and go through
    /// SSL_write, so many small frames share one record (one AEAD seal, 22 bytes of overhead)
    /// instead of one each. Files are read with pread: no kTLS here (see docs/protocol.md), so
    /// sendfile's zero copy is not available once the bytes must be encrypted in user space.
    mutating func flush(tls: TLSSession, scratch: UnsafeMutableRawBufferPointer) throws(SystemError) -> FlushResult {
        var written = 0
        while true {
            if tls.hasPendingWrite {
                switch tls.retryPendingWrite() {
                case .done: break
                case .wantRead, .wantWrite: return .wouldBlock
                case .closed, .failed: throw SystemError("SSL_write", errno: EPIPE)
                }
            }
            while head < chunks.count && chunks[head].count == headOffset { advance(by: 0) }  // dropped or empty
            if head == chunks.count { return .drained }
            if written >= Self.flushBudget { return .budgetSpent }
            let record = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<min(scratch.count, TLSSession.recordBytes)])
            let n = try copyPending(into: record)
            let step = tls.write(UnsafeRawBufferPointer(rebasing: record[0..<n]))
            switch step {
            case .done, .wantRead, .wantWrite:
                // Taken either way: on a want, the session keeps the bytes for the retry.
                written += n
                advance(by: n)
                if step != .done(n) { return .wouldBlock }
            case .closed, .failed:
                throw SystemError("SSL_write", errno: EPIPE)
            }
        }
    }

    /// Copies queued bytes from the head on into `buffer` without consuming them.
    private func copyPending(into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        var filled = 0
        var i = head
        var skip = headOffset
        while i < chunks.count && filled < buffer.count {
            let room = buffer.count - filled
            let destination = buffer.baseAddress! + filled
            switch chunks[i] {
            case .own(let b):
                let n = min(room, b.count - skip)
                destination.copyMemory(from: b.base + skip, byteCount: n)
                filled += n
            case .shared(let s):
                let n = min(room, s.count - skip)
                destination.copyMemory(from: s.base + skip, byteCount: n)
                filled += n
            case .file(let region):
                let n = min(room, region.length - skip)
                let r = try Syscall.retrying("pread") { pread(region.file.fd, destination, n, off_t(region.offset + skip)) }
                // The file shrank under us: fail rather than promise bytes that will never come.
                if r == 0 { throw SystemError("pread", errno: EIO) }
                filled += r
                if r < n { return filled }
            case .dropped:
                break
            }
            i += 1
            skip = 0
        }
        return filled
    }

    /// Chunks that average at most this many bytes are gathered into one buffer before the
    /// write: the kernel's per-segment cost (importing and walking the iovec array, one
    /// user-copy setup each) was ~0.07 µs per delivered frame in S1a, where a subscriber's turn
    /// carries ~8 small frames (perf: vfs_writev, _copy_from_iter and fdget_pos 14 % of the
    /// server's CPU against c-limit's 5 % for its one contiguous write). Larger chunks go out
    /// with writev untouched: copying them would cost more than the segments do.
    static let gatherAverageLimit = 1024

    private func writeVector(fd: Int32, scratch: UnsafeMutableRawBufferPointer?) throws(SystemError) -> Int? {
        let result: Int = withUnsafeTemporaryAllocation(of: iovec.self, capacity: Self.maxIOVecs) { iov in
            var count = 0
            var total = 0
            var i = head
            scan: while i < chunks.count && count < Self.maxIOVecs {
                let skip = i == head ? headOffset : 0
                switch chunks[i] {
                case .own(let b):
                    iov[count] = iovec(iov_base: b.base + skip, iov_len: b.count - skip)
                case .shared(let s):
                    iov[count] = iovec(iov_base: UnsafeMutableRawPointer(mutating: s.base) + skip, iov_len: s.count - skip)
                case .file:
                    break scan  // a file goes out with sendfile, after the bytes before it
                case .dropped:
                    i += 1
                    continue
                }
                total += iov[count].iov_len
                count += 1
                i += 1
            }
            if count > 1, let scratch, total <= scratch.count, total <= count * Self.gatherAverageLimit {
                var filled = 0
                for k in 0..<count {
                    (scratch.baseAddress! + filled).copyMemory(from: iov[k].iov_base!, byteCount: iov[k].iov_len)
                    filled += iov[k].iov_len
                }
                iov[0] = iovec(iov_base: scratch.baseAddress, iov_len: total)
                count = 1
            }
            while true {
                let r = count == 1 ? Glibc.write(fd, iov[0].iov_base, iov[0].iov_len) : Glibc.writev(fd, iov.baseAddress, Int32(count))
                if r >= 0 { return r }
                if errno != EINTR { return -Int(errno) }
            }
        }
        if result >= 0 { return result }
        let e = Int32(-result)
        if e == EAGAIN || e == EWOULDBLOCK { return nil }
        throw SystemError("writev", errno: e)
    }

    private func sendFile(fd: Int32, region: FileRegion) throws(SystemError) -> Int? {
        var offset = off_t(region.offset + headOffset)
        let remaining = region.length - headOffset
        let r = try Syscall.nonBlocking("sendfile") {
            herald_linux_sendfile(fd, region.file.fd, &offset, min(remaining, 1 << 20))
        }
        guard let r else { return nil }
        // The file shrank under us: fail rather than promise bytes that will never come.
        if r == 0 { throw SystemError("sendfile", errno: EIO) }
        return r
    }

    private mutating func advance(by written: Int) {
        var n = written
        pendingBytes -= n
        while head < chunks.count && (n > 0 || chunks[head].count == headOffset) {
            let left = chunks[head].count - headOffset
            if n >= left {
                n -= left
                head += 1
                headOffset = 0
            } else {
                headOffset += n
                n = 0
            }
        }
        if head == chunks.count {
            if drainedBefore {
                if spare == nil, case .own(let tail)? = chunks.last, tail.capacity <= Self.spareLimit {
                    tail.removeAll()
                    spare = tail
                }
                chunks.empty()
            } else {
                chunks = []
                drainedBefore = true
            }
            if let conflation {
                conflation.slots.removeAll(keepingCapacity: true)
                conflation.droppedInQueue = 0
            }
            head = 0
        } else if head > 32 && head * 2 > chunks.count {
            chunks.removeSubrange(0..<head)
            let shift = head
            if let conflation { conflation.slots = conflation.slots.compactMapValues { $0 >= shift ? $0 - shift : nil } }
            head = 0
        }
    }
}
