import CHeraldSSL
import Glibc

/// One connection's TLS state on the socket BIO: OpenSSL makes the read/write syscalls, and
/// `Connection` turns its WANT_READ/WANT_WRITE into epoll interest. Both cross cases are kept:
/// a write can want a read and a read can want a write (a TLS 1.3 KeyUpdate answer).
final class TLSSession {
    enum Step: Equatable { case done(Int), wantRead, wantWrite, closed, failed }

    let context: TLSContext
    private var ssl: OpaquePointer?
    private(set) var isEstablished = false
    /// The last SSL_read asked for a write: retry reading when the socket is writable.
    var readWantsWrite = false
    /// The last SSL_write asked for a read: retry writing when the socket is readable.
    var writeWantsRead = false
    /// Bytes an SSL_write returned a want for: OpenSSL has already sealed them into a record,
    /// and requires the retry to offer the same bytes (ACCEPT_MOVING_WRITE_BUFFER lets them live
    /// here, out of the shared staging buffer). Empty when no write is pending.
    private(set) var pendingWrite: [UInt8] = []

    /// The handshake failed because the peer sent a plain HTTP request (or a proxy CONNECT).
    private(set) var peerSpokePlainHTTP = false

    /// Plaintext per SSL_write: one full record (RFC 8446 5.1: at most 2^14 bytes).
    static let recordBytes = 16 * 1024

    init?(context: TLSContext, fd: Int32) {
        guard let ssl = context.makeSSL(fd: fd) else { return nil }
        self.context = context
        self.ssl = ssl
    }

    deinit { free() }

    func free() {
        if let ssl { SSL_free(ssl) }
        ssl = nil
    }

    /// True when OpenSSL holds decrypted bytes no epoll event will announce.
    var hasPendingInput: Bool {
        guard let ssl else { return false }
        return SSL_has_pending(ssl) == 1  // decrypted bytes, or a record read but not yet processed
    }

    var isResumed: Bool {
        guard let ssl else { return false }
        return herald_ssl_session_reused(ssl) == 1
    }

    func handshake() -> Step {
        guard let ssl else { return .failed }
        let r = SSL_do_handshake(ssl)
        if r == 1 {
            isEstablished = true
            if isResumed { context.statistics.resumedHandshakes += 1 } else { context.statistics.fullHandshakes += 1 }
            return .done(0)
        }
        let step = step(ssl, r)
        if step == .failed || step == .closed { context.statistics.failedHandshakes += 1 }
        return step
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> Step {
        guard let ssl else { return .failed }
        let r = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        readWantsWrite = false
        if r > 0 { return .done(Int(r)) }
        let s = step(ssl, r)
        if s == .wantWrite { readWantsWrite = true }
        return s
    }

    /// Writes `bytes` (at most one record, no write pending). On a want the bytes count as taken:
    /// they are kept for `retryPendingWrite`, and the caller waits for the socket.
    func write(_ bytes: UnsafeRawBufferPointer) -> Step {
        guard let ssl else { return .failed }
        precondition(pendingWrite.isEmpty, "SSL_write retried with other bytes")
        let s = attempt(ssl, bytes)
        if s == .wantRead || s == .wantWrite { pendingWrite = Array(bytes) }
        return s
    }

    /// Retries the write that wanted the socket: `.done` once it went out.
    func retryPendingWrite() -> Step {
        guard let ssl else { return .failed }
        let s = pendingWrite.withUnsafeBytes { attempt(ssl, $0) }
        if case .done = s { pendingWrite.removeAll() }
        return s
    }

    /// True when a write is waiting for the socket (the bytes above).
    var hasPendingWrite: Bool { !pendingWrite.isEmpty }
    var pendingWriteBytes: Int { pendingWrite.count }

    private func attempt(_ ssl: OpaquePointer, _ bytes: UnsafeRawBufferPointer) -> Step {
        writeWantsRead = false
        let r = SSL_write(ssl, bytes.baseAddress, Int32(bytes.count))
        if r > 0 { return .done(Int(r)) }
        let s = step(ssl, r)
        if s == .wantRead { writeWantsRead = true }
        return s
    }

    /// Sends close_notify once, best effort (the socket is shut down for writing right after).
    func shutdown() {
        guard let ssl, isEstablished else { return }
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    private func step(_ ssl: OpaquePointer, _ r: Int32) -> Step {
        let error = SSL_get_error(ssl, r)
        switch error {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN:
            return .closed
        default:
            // SSL_ERROR_SSL (bad record, alert, refused version), SSL_ERROR_SYSCALL (reset):
            // the queue must be emptied or the next call on this thread would be blamed.
            if error == SSL_ERROR_SSL && !isEstablished && herald_ssl_error_is_plain_http() == 1 { peerSpokePlainHTTP = true }
            ERR_clear_error()
            return .failed
        }
    }
}
