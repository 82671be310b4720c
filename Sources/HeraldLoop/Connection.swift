import CHeraldLinux
import Glibc

/// What a connection tells its owner. All calls happen on the loop thread.
public protocol ConnectionDelegate: AnyObject {
    /// Bytes arrived; `bytes` is valid only during the call.
    func connection(_ connection: Connection, didRead bytes: UnsafeRawBufferPointer)
    /// The peer finished sending (FIN). Reading stops; the connection stays writable.
    func connectionDidReadEOF(_ connection: Connection)
    /// The output queue became empty after having pending bytes.
    func connectionDidDrain(_ connection: Connection)
    /// The connection is gone; no call follows.
    func connectionDidClose(_ connection: Connection)
}

extension ConnectionDelegate {
    public func connectionDidReadEOF(_ connection: Connection) { connection.closeAfterFlush() }
    public func connectionDidDrain(_ connection: Connection) {}
}

/// A non-blocking stream socket owned by one loop: reads are handed to the delegate, writes are
/// queued and flushed once at the end of the turn (or when the socket becomes writable again);
/// `EPOLLOUT` is watched only while output is pending.
public final class Connection: IOHandler {
    public enum State { case open, closingAfterFlush, lingering, closed }

    /// How long a gracefully closed connection keeps reading (and discarding) before the fd is
    /// closed, so a response sent just before close is not destroyed by an RST (nginx's lingering_close).
    public static let lingerSeconds = 2.0

    // Stored properties are laid out in declaration order: the small ones sit together so an
    // idle connection carries no padding between them (S3, memory per idle WebSocket).
    public let loop: EventLoop
    public let fd: Int32
    private var interest: IOInterest = .read
    public let peer: String
    public var delegate: ConnectionDelegate?
    private var registrationID: UInt64 = 0
    private var output = OutputQueue()
    public private(set) var state: State = .open
    private var isDirty = false
    private var readPaused = false
    private var readEOF = false
    /// A turn's read stopped with decrypted bytes still inside OpenSSL: read again soon.
    private var pendingReadScheduled = false
    private var lingerTimer = TimerID.none
    /// Closes a connection whose handshake does not finish in time.
    private var handshakeTimer = TimerID.none
    /// The transport seam: nil for a plain socket; with TLS every read and write goes through
    /// the session, and the delegate sees only plaintext, once the handshake is done.
    private let tls: TLSSession?
    /// The gate that admitted this connection and the address it counted, told when the fd is
    /// closed so its counts follow the open connections exactly. Boxed: only a server with
    /// connection limits has one, and inline it made every connection 32 bytes bigger.
    var admission: Admission?

    final class Admission {
        let gate: ConnectionGate
        let address: PeerAddress
        init(gate: ConnectionGate, address: PeerAddress) {
            self.gate = gate
            self.address = address
        }
    }

    init(loop: EventLoop, fd: Int32, peer: String, tls: TLSContext? = nil) throws(SystemError) {
        self.loop = loop
        self.fd = fd
        self.peer = peer
        if let tls {
            guard let session = TLSSession(context: tls, fd: fd) else { throw SystemError("SSL_new", errno: ENOMEM) }
            self.tls = session
        } else {
            self.tls = nil
        }
        registrationID = try loop.register(fd: fd, interest: .read, handler: self)
        if let tls {
            handshakeTimer = loop.scheduleTimer(afterSeconds: tls.handshakeTimeout) { [weak self] in
                guard let self, self.tls?.isEstablished == false else { return }
                tls.statistics.failedHandshakes += 1
                self.close()
            }
        }
    }

    /// Adopts an already connected socket (made non-blocking here).
    public static func adopt(fd: Int32, on loop: EventLoop, peer: String = "") throws(SystemError) -> Connection {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        return try Connection(loop: loop, fd: fd, peer: peer)
    }

    public var pendingOutputBytes: Int { output.pendingBytes + (tls?.pendingWriteBytes ?? 0) }
    /// True when a flush left output behind (the peer's receive buffer is full) and we wait
    /// for it to drain: what tells a slow reader from a burst queued during this turn.
    public var isWaitingForWritable: Bool { interest.contains(.write) }
    public var isOpen: Bool { state == .open }

    // MARK: Writing

    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard state == .open else { return }
        output.append(bytes)
        markDirty()
    }

    public func write(_ shared: SharedBytes) {
        guard state == .open else { return }
        output.append(shared)
        markDirty()
    }

    /// Queues `shared`, replacing a still-unwritten chunk queued under the same key (a newer
    /// progress event of the same task supersedes the older one for a slow reader).
    public func write(_ shared: SharedBytes, conflationKey: UInt64) {
        guard state == .open else { return }
        output.append(shared, conflationKey: conflationKey)
        markDirty()
    }

    /// Drops what is queued and not yet started (a subscriber being cut off); a frame already
    /// partly sent is finished first.
    public func discardPendingOutput() {
        output.removeUnstarted()
    }

    /// Chunks dropped because a newer one with the same key superseded them.
    public var conflatedChunks: UInt64 { output.conflatedChunks }

    public func write(_ file: FileRegion) {
        guard state == .open else { return }
        output.append(file)
        markDirty()
    }

    private func markDirty() {
        if !isDirty && interest.contains(.write) == false {
            isDirty = true
            loop.dirtyConnections.append(self)
        }
    }

    // MARK: Reading control

    /// Stops reading (backpressure): the kernel buffer fills and TCP slows the peer down.
    public func pauseReading() {
        guard !readPaused else { return }
        readPaused = true
        updateInterest()
    }

    public func resumeReading() {
        guard readPaused else { return }
        readPaused = false
        updateInterest()
        scheduleReadOfPendingInput()
    }

    // MARK: Closing

    /// Closes now; pending output is dropped.
    public func close() {
        guard state != .closed else { return }
        state = .closed
        output.removeAll()
        loop.closedConnections.append(self)
    }

    /// Sends what is queued, then shuts down writing and lingers briefly before closing.
    public func closeAfterFlush() {
        guard state == .open else { return }
        state = .closingAfterFlush
        if output.isEmpty { startLingering() } else { markDirty() }
    }

    private func startLingering() {
        state = .lingering
        tls?.shutdown()  // close_notify before the FIN
        _ = shutdown(fd, Int32(SHUT_WR))
        if readEOF {
            close()
            return
        }
        readPaused = false
        updateInterest()
        lingerTimer = loop.scheduleTimer(afterSeconds: Self.lingerSeconds) { [weak self] in self?.close() }
    }

    /// Called by the loop at the end of the turn for closed connections.
    func free() {
        loop.cancelTimer(lingerTimer)
        loop.cancelTimer(handshakeTimer)
        tls?.free()
        loop.deregister(fd: fd, id: registrationID)
        Syscall.close(fd)
        if let admission { admission.gate.release(admission.address) }
        let delegate = self.delegate
        self.delegate = nil  // break the connection ↔ handler cycle
        delegate?.connectionDidClose(self)
    }

    // MARK: Events

    func handle(events: UInt32) {
        if events & (EPOLLERR.rawValue) != 0 && events & EPOLLIN.rawValue == 0 {
            close()
            return
        }
        if let tls, !tls.isEstablished {
            handshake(tls)
            return
        }
        // The cross cases: a write waiting for input, a read waiting for room.
        if let tls, tls.writeWantsRead, events & EPOLLIN.rawValue != 0 { flushNow() }
        if let tls, tls.readWantsWrite, events & EPOLLOUT.rawValue != 0 && state != .closed { readable() }
        if events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLRDHUP.rawValue) != 0 && state != .closed {
            if readEOF {
                // Already saw FIN: only a full hang-up matters now (the peer can't read either).
                if events & EPOLLHUP.rawValue != 0 { close() }
            } else {
                readable()
            }
        }
        if events & EPOLLOUT.rawValue != 0 && state != .closed {
            flushNow()
        }
    }

    private func readable() {
        if let tls {
            readTLS(tls)
            return
        }
        let buffer = loop.readBuffer
        let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
        if n > 0 {
            if state == .lingering { return }  // discarding until EOF or the linger timer
            delegate?.connection(self, didRead: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        } else if n == 0 {
            sawEOF()
        } else if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR {
            close()  // ECONNRESET and friends
        }
    }

    private func sawEOF() {
        readEOF = true
        if state == .lingering {
            close()
            return
        }
        updateInterest()
        delegate?.connectionDidReadEOF(self)
    }

    // MARK: TLS

    /// SSL_read calls per readiness event, as the plain path reads once: one busy peer cannot
    /// keep the loop; what is left inside OpenSSL is read on a timer right after this turn.
    static let tlsReadsPerEvent = 4

    private func handshake(_ tls: TLSSession) {
        guard state == .open || state == .closingAfterFlush else {
            close()  // no HTTP answer can go out before the handshake: nothing to linger for
            return
        }
        switch tls.handshake() {
        case .done:
            loop.cancelTimer(handshakeTimer)
            handshakeTimer = .none
            updateInterest(wantWrite: false)
            if !output.isEmpty { markDirty() }
            readTLS(tls)  // the client's first request may already sit in the same packet
        case .wantRead:
            updateInterest(wantWrite: false)
        case .wantWrite:
            updateInterest(wantWrite: true)
        case .closed, .failed:
            // OpenSSL has sent the alert (RFC 8446 6.2) where one applies. Read what is left
            // first: closing with unread input sends an RST, which can destroy the alert.
            _ = recv(fd, loop.readBuffer.baseAddress, loop.readBuffer.count, Int32(MSG_DONTWAIT))
            if tls.peerSpokePlainHTTP {
                // As nginx does: a plain request to the TLS port learns why, in plain HTTP (one
                // small send; a full socket buffer just loses the hint, the close still happens).
                TLSContext.plainHTTPAnswer.withUnsafeBytes { _ = send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
            }
            close()
        }
    }

    private func readTLS(_ tls: TLSSession) {
        let buffer = loop.readBuffer
        for _ in 0..<Self.tlsReadsPerEvent {
            guard state != .closed, !readPaused, !readEOF else { return }
            switch tls.read(into: buffer) {
            case .done(let n):
                if state == .lingering { continue }  // discarding until EOF or the linger timer
                delegate?.connection(self, didRead: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            case .wantRead:
                return
            case .wantWrite:
                updateInterest(wantWrite: true)
                return
            case .closed:
                sawEOF()
                return
            case .failed:
                close()
                return
            }
        }
        scheduleReadOfPendingInput()
    }

    /// Bytes OpenSSL already decrypted (or read ahead) never wake epoll again: read them after
    /// this turn, unless reading is paused (resumeReading comes back here).
    private func scheduleReadOfPendingInput() {
        guard let tls, tls.isEstablished, tls.hasPendingInput, !pendingReadScheduled, state != .closed, !readPaused, !readEOF
        else { return }
        pendingReadScheduled = true
        loop.scheduleTimer(afterSeconds: 0) { [weak self] in
            guard let self else { return }
            self.pendingReadScheduled = false
            if self.state != .closed { self.readable() }
        }
    }

    /// Writes pending output now (end of turn, or EPOLLOUT).
    func flushNow() {
        isDirty = false
        guard state == .open || state == .closingAfterFlush else { return }
        if let tls, !tls.isEstablished {
            if state == .closingAfterFlush { close() }  // an answer before the handshake cannot be sent
            return
        }
        do {
            let result = try tls.map { tls throws(SystemError) in try output.flush(tls: tls, scratch: loop.writeScratch) }
                ?? output.flush(fd: fd, scratch: loop.writeScratch)
            if tls != nil { updateInterest() }  // the write's want of a read may be over
            switch result {
            case .drained:
                if interest.contains(.write) { updateInterest(wantWrite: false) }
                if state == .closingAfterFlush {
                    startLingering()
                } else {
                    delegate?.connectionDidDrain(self)
                }
            case .wouldBlock, .budgetSpent:
                // A TLS write that wants a read waits for EPOLLIN, not for a socket already writable.
                let wantWrite = tls?.writeWantsRead != true
                if interest.contains(.write) != wantWrite { updateInterest(wantWrite: wantWrite) }
            }
        } catch {
            close()  // EPIPE, ECONNRESET: the peer is gone
        }
    }

    private func updateInterest(wantWrite: Bool? = nil) {
        guard state != .closed else { return }
        var next: IOInterest = []
        // TLS's cross wants: a write waiting for input reads even while paused, a read
        // waiting for room watches writability.
        if (!readPaused || tls?.writeWantsRead == true) && !readEOF { next.insert(.read) }
        if wantWrite ?? interest.contains(.write) || tls?.readWantsWrite == true { next.insert(.write) }
        if next != interest {
            interest = next
            loop.reregister(fd: fd, interest: next, id: registrationID)
        }
    }
}
