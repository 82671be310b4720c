import CHeraldLinux
import Glibc

/// Interest in readiness events on one fd.
public struct IOInterest: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let read = IOInterest(rawValue: EPOLLIN.rawValue | EPOLLRDHUP.rawValue)
    public static let write = IOInterest(rawValue: EPOLLOUT.rawValue)
}

/// The epoll backend: four operations, as in redis' ae_epoll.c. Every registration carries a
/// registration id in `epoll_event.data`, never the fd, so an event that was already queued for an
/// fd that has since been closed and reused is recognised as stale and dropped by the loop.
final class EpollSelector {
    let epfd: Int32
    private var events: UnsafeMutablePointer<epoll_event>
    private let capacity: Int32

    init(capacity: Int32 = 1024) throws(SystemError) {
        epfd = try Syscall.retrying("epoll_create1") { herald_linux_epoll_create() }
        self.capacity = capacity
        events = .allocate(capacity: Int(capacity))
    }

    deinit {
        events.deallocate()
        Syscall.close(epfd)
    }

    func add(fd: Int32, interest: IOInterest, id: UInt64) throws(SystemError) {
        try control(EPOLL_CTL_ADD, fd: fd, interest: interest, id: id)
    }

    func modify(fd: Int32, interest: IOInterest, id: UInt64) throws(SystemError) {
        try control(EPOLL_CTL_MOD, fd: fd, interest: interest, id: id)
    }

    func remove(fd: Int32) {
        var ev = epoll_event()
        _ = herald_linux_epoll_ctl(epfd, EPOLL_CTL_DEL, fd, &ev)
    }

    /// Waits for events (-1 = no timeout; timers use a timerfd) and calls `body(id, events)` for each.
    func wait(timeoutMs: Int32, _ body: (UInt64, UInt32) -> Void) throws(SystemError) {
        let n = herald_linux_epoll_wait(epfd, events, capacity, timeoutMs)
        if n < 0 {
            if errno == EINTR { return }
            throw SystemError("epoll_wait")
        }
        for i in 0..<Int(n) {
            body(events[i].data.u64, events[i].events)
        }
    }

    private func control(_ op: Int32, fd: Int32, interest: IOInterest, id: UInt64) throws(SystemError) {
        var ev = epoll_event()
        ev.events = interest.rawValue
        ev.data.u64 = id
        _ = try Syscall.retrying("epoll_ctl") { herald_linux_epoll_ctl(epfd, op, fd, &ev) }
    }
}
