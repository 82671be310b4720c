import CHeraldLinux
import Glibc

/// A pipe a child writes one byte to once it is ready (a worker: listening). The supervisor
/// passes `writeFD` to the child (as fd 3), then calls `childStarted()` to drop its own copy, so
/// the pipe reaches EOF if the child dies without writing. `onReady` runs at most once, on the
/// loop thread.
public final class ChildProcessReadiness: IOHandler {
    /// The child's end, valid until `childStarted()`; CLOEXEC, so no other child inherits it.
    public private(set) var writeFD: Int32
    private let readFD: Int32
    private let loop: EventLoop
    private var registrationID: UInt64 = 0
    private var onReady: (() -> Void)?
    private var closed = false

    public init(loop: EventLoop, onReady: @escaping () -> Void) throws(SystemError) {
        self.loop = loop
        self.onReady = onReady
        var fds: [Int32] = [-1, -1]
        _ = try Syscall.retrying("pipe2") { herald_linux_pipe_cloexec(&fds) }
        readFD = fds[0]
        writeFD = fds[1]
        do {
            registrationID = try loop.register(fd: readFD, interest: .read, handler: self)
        } catch {
            Syscall.close(readFD)
            Syscall.close(writeFD)
            throw error
        }
    }

    /// Closes our copy of the child's end: from now on only the child holds it.
    public func childStarted() {
        guard writeFD >= 0 else { return }
        Syscall.close(writeFD)
        writeFD = -1
    }

    /// Stops watching (idempotent); `onReady` will not run.
    public func close() {
        childStarted()
        guard !closed else { return }
        closed = true
        onReady = nil
        loop.deregister(fd: readFD, id: registrationID)
        Syscall.close(readFD)
    }

    func handle(events: UInt32) {
        var byte: UInt8 = 0
        let n = Glibc.read(readFD, &byte, 1)
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
        let ready = n == 1 ? onReady : nil
        // One byte is the whole message; EOF or an error means the child will not be ready
        // (its exit reaches the supervisor through SIGCHLD).
        close()
        ready?()
    }
}
