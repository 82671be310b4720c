import CHeraldLinux
import Glibc

/// Delivers signals as loop events through a signalfd. The signals are blocked in the calling
/// thread — create it on the main thread before starting other threads, so they inherit the mask.
public final class SignalWatcher: IOHandler {
    private let loop: EventLoop
    private let fd: Int32
    private var registrationID: UInt64 = 0
    private let onSignal: (Int32) -> Void

    public init(loop: EventLoop, signals: [Int32], onSignal: @escaping (Int32) -> Void) throws(SystemError) {
        self.loop = loop
        self.onSignal = onSignal
        var mask = sigset_t()
        sigemptyset(&mask)
        for s in signals { sigaddset(&mask, s) }
        _ = herald_linux_block_signals(&mask)
        fd = try Syscall.retrying("signalfd") { herald_linux_signalfd(&mask) }
        registrationID = try loop.register(fd: fd, interest: .read, handler: self)
    }

    /// Blocks `signals` in the calling thread (and threads it starts later).
    public static func block(_ signals: [Int32]) {
        var mask = sigset_t()
        sigemptyset(&mask)
        for s in signals { sigaddset(&mask, s) }
        _ = herald_linux_block_signals(&mask)
    }

    func handle(events: UInt32) {
        var info = signalfd_siginfo()
        while Glibc.read(fd, &info, MemoryLayout<signalfd_siginfo>.size) == MemoryLayout<signalfd_siginfo>.size {
            onSignal(Int32(info.ssi_signo))
        }
    }

    public func close() {
        loop.deregister(fd: fd, id: registrationID)
        Syscall.close(fd)
    }
}
