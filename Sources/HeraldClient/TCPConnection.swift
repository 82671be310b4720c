#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HeraldWire

/// A point on the monotonic clock by which an operation must finish; `.never` waits forever.
public struct Deadline: Sendable, Equatable {
    /// Nanoseconds on CLOCK_MONOTONIC; nil for no deadline.
    public let nanoseconds: UInt64?

    public static let never = Deadline(nanoseconds: nil)

    public init(nanoseconds: UInt64?) {
        self.nanoseconds = nanoseconds
    }

    /// `seconds` from now (a non-finite or huge value means no deadline).
    public static func after(seconds: Double) -> Deadline {
        guard seconds.isFinite, seconds < 1e9 else { return .never }
        return Deadline(nanoseconds: MonotonicTime.nanoseconds() + UInt64(max(0, seconds) * 1e9))
    }

    public var hasPassed: Bool {
        guard let ns = nanoseconds else { return false }
        return MonotonicTime.nanoseconds() >= ns
    }

    /// Milliseconds left for poll(2): -1 for no deadline, 0 once passed; rounded up so a
    /// deadline 0.4 ms away does not spin.
    var pollTimeout: Int32 {
        guard let ns = nanoseconds else { return -1 }
        let now = MonotonicTime.nanoseconds()
        guard ns > now else { return 0 }
        return Int32(clamping: (ns - now + 999_999) / 1_000_000)
    }

    public static func earliest(_ a: Deadline, _ b: Deadline) -> Deadline {
        guard let x = a.nanoseconds else { return b }
        guard let y = b.nanoseconds else { return a }
        return x <= y ? a : b
    }
}

public enum MonotonicTime {
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    public static func seconds() -> Double { Double(nanoseconds()) / 1e9 }
}

/// A connected TCP socket for one thread, with every wait bounded by a `Deadline` (poll(2) on
/// a non-blocking fd, so a slow or silent server can never hang the CLI past its timeout).
public final class TCPConnection {
    public let fd: Int32
    /// `http://host:port`, for messages.
    public let origin: String
    private var isClosed = false
    /// Set for https/wss: reads and writes go through it.
    private var tls: ClientTLSSession?

    /// Largest read per recv(2) call.
    static let readChunkBytes = 64 * 1024

    init(fd: Int32, origin: String) {
        self.fd = fd
        self.origin = origin
    }

    deinit { close() }

    /// Resolves `host` (names, IPv4 and IPv6 literals, via getaddrinfo) and connects to the
    /// first address that answers, trying each in turn (so `localhost` works whether the
    /// server listens on ::1 or 127.0.0.1).
    public static func connect(
        host: String, port: Int, origin: String, deadline: Deadline, tls: ClientTLS? = nil
    ) throws(ClientError) -> TCPConnection {
        let connection = try connectTCP(host: host, port: port, origin: origin, deadline: deadline)
        if let tls { try connection.startTLS(host: host, settings: tls, deadline: deadline) }
        return connection
    }

    private func startTLS(host: String, settings: ClientTLS, deadline: Deadline) throws(ClientError) {
        let session = try ClientTLSSession(fd: fd, host: host, settings: settings)
        tls = session
        while true {
            switch session.handshake() {
            case .done: return
            case .wantRead: try wait(Int16(POLLIN), deadline: deadline, doing: "in the TLS handshake with")
            case .wantWrite: try wait(Int16(POLLOUT), deadline: deadline, doing: "in the TLS handshake with")
            case .closed: throw .cannotConnect(origin, "TLS handshake failed: the server closed the connection")
            case .failed(let why): throw .cannotConnect(origin, "TLS handshake failed: \(why)")
            }
        }
    }

    private func wait(_ events: Int16, deadline: Deadline, doing what: String) throws(ClientError) {
        switch Self.waitFor(fd: fd, events: events, deadline: deadline) {
        case .ready: return
        case .timedOut: throw .timedOut("\(what) \(origin)")
        case .failed(let e): throw .io("\(what) \(origin): \(SystemErrorText.describe(e))")
        }
    }

    private static func connectTCP(host: String, port: Int, origin: String, deadline: Deadline) throws(ClientError) -> TCPConnection {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            let message = rc == EAI_SYSTEM ? SystemErrorText.describe(errno) : String(cString: gai_strerror(rc))
            throw .cannotResolve(origin, message)
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let ai = entry {
            entry = ai.pointee.ai_next
            if deadline.hasPassed { throw .timedOut("connecting to \(origin)") }
            let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue | SOCK_NONBLOCK.rawValue), 0)
            guard fd >= 0 else {
                lastError = SystemErrorText.describe(errno)
                continue
            }
            var one: Int32 = 1
            _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            if Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 {
                return TCPConnection(fd: fd, origin: origin)
            }
            var err = errno
            if err == EINPROGRESS {
                switch waitFor(fd: fd, events: Int16(POLLOUT), deadline: deadline) {
                case .ready:
                    var soError: Int32 = 0
                    var len = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &len)
                    if soError == 0 { return TCPConnection(fd: fd, origin: origin) }
                    err = soError
                case .timedOut:
                    _ = Glibc.close(fd)
                    throw .timedOut("connecting to \(origin)")
                case .failed(let e):
                    err = e
                }
            }
            _ = Glibc.close(fd)
            lastError = SystemErrorText.describe(err)
        }
        throw .cannotConnect(origin, lastError)
    }

    /// Writes every byte or throws.
    public func write(_ bytes: [UInt8], deadline: Deadline) throws(ClientError) {
        if let tls {
            var offset = 0
            while offset < bytes.count {
                let step = bytes.withUnsafeBytes { tls.write(UnsafeRawBufferPointer(rebasing: $0[offset...])) }
                switch step {
                case .done(let n): offset += n
                case .wantRead: try wait(Int16(POLLIN), deadline: deadline, doing: "sending to")
                case .wantWrite: try wait(Int16(POLLOUT), deadline: deadline, doing: "sending to")
                case .closed: throw .io("cannot send to \(origin): the connection is closed")
                case .failed(let why): throw .io("cannot send to \(origin): \(why)")
                }
            }
            return
        }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                offset += n
                continue
            }
            let err = errno
            if n < 0 && (err == EAGAIN || err == EWOULDBLOCK) {
                switch Self.waitFor(fd: fd, events: Int16(POLLOUT), deadline: deadline) {
                case .ready: continue
                case .timedOut: throw .timedOut("sending to \(origin)")
                case .failed(let e): throw .io("cannot send to \(origin): \(SystemErrorText.describe(e))")
                }
            }
            if n < 0 && err == EINTR { continue }
            throw .io("cannot send to \(origin): \(SystemErrorText.describe(err))")
        }
    }

    /// Appends what arrives to `buffer`: the number of bytes (0 at end of file), or nil when
    /// the deadline passed first.
    public func read(into buffer: inout ByteBuffer, deadline: Deadline) throws(ClientError) -> Int? {
        var chunk = [UInt8](repeating: 0, count: Self.readChunkBytes)
        if let tls { return try readTLS(tls, into: &buffer, chunk: &chunk, deadline: deadline) }
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                chunk.withUnsafeBytes { buffer.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                return n
            }
            if n == 0 { return 0 }
            let err = errno
            if err == EINTR { continue }
            guard err == EAGAIN || err == EWOULDBLOCK else {
                throw .io("cannot read from \(origin): \(SystemErrorText.describe(err))")
            }
            switch Self.waitFor(fd: fd, events: Int16(POLLIN), deadline: deadline) {
            case .ready: continue
            case .timedOut: return nil
            case .failed(let e): throw .io("cannot read from \(origin): \(SystemErrorText.describe(e))")
            }
        }
    }

    /// A read that only processed a session ticket wants another read: not the end of input.
    private func readTLS(_ tls: ClientTLSSession, into buffer: inout ByteBuffer, chunk: inout [UInt8], deadline: Deadline) throws(ClientError) -> Int? {
        while true {
            let step = chunk.withUnsafeMutableBytes { tls.read($0) }
            switch step {
            case .done(let n):
                chunk.withUnsafeBytes { buffer.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                return n
            case .closed:
                return 0
            case .failed(let why):
                throw .io("cannot read from \(origin): \(why)")
            case .wantRead, .wantWrite:
                var events = Int16(POLLIN)
                if case .wantWrite = step { events = Int16(POLLOUT) }
                switch Self.waitFor(fd: fd, events: events, deadline: deadline) {
                case .ready: continue
                case .timedOut: return nil
                case .failed(let e): throw .io("cannot read from \(origin): \(SystemErrorText.describe(e))")
                }
            }
        }
    }

    /// Half-closes the sending side (after a WebSocket close frame) so the server sees EOF.
    public func shutdownWrite() {
        tls?.shutdown()
        _ = shutdown(fd, Int32(SHUT_WR))
    }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        tls = nil  // SSL_free before the fd goes
        _ = Glibc.close(fd)
    }

    enum WaitResult {
        case ready, timedOut
        case failed(Int32)
    }

    static func waitFor(fd: Int32, events: Int16, deadline: Deadline) -> WaitResult {
        while true {
            var pfd = pollfd(fd: fd, events: events, revents: 0)
            let rc = poll(&pfd, 1, deadline.pollTimeout)
            if rc > 0 { return .ready }  // POLLERR/POLLHUP too: the next call reports them
            if rc == 0 {
                if deadline.hasPassed { return .timedOut }
                continue
            }
            if errno == EINTR { continue }
            return .failed(errno)
        }
    }
}

enum SystemErrorText {
    /// `strerror(3)`: "Connection refused".
    static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
