import HeraldLoop
import HeraldTasks

/// `GET /api/tasks/{id}?wait=S&after=N` requests waiting for the task to change: answered by
/// the first event of that task with a later seq, or after S seconds with the task unchanged.
final class LongPollRegistry {
    private final class Waiter {
        let after: UInt64
        let current: [UInt8]
        let respond: (HTTPResponse) -> Void
        var timer: TimerID?
        init(after: UInt64, current: [UInt8], respond: @escaping (HTTPResponse) -> Void) {
            self.after = after
            self.current = current
            self.respond = respond
        }
    }

    private let loop: EventLoop
    private var waiters: [String: [ObjectIdentifier: Waiter]] = [:]

    init(loop: EventLoop) {
        self.loop = loop
    }

    var count: Int { waiters.values.reduce(0) { $0 + $1.count } }

    func wait(for id: String, after: UInt64, seconds: Double, current: [UInt8], respond: @escaping (HTTPResponse) -> Void) {
        let waiter = Waiter(after: after, current: current, respond: respond)
        let key = ObjectIdentifier(waiter)
        waiters[id, default: [:]][key] = waiter
        waiter.timer = loop.scheduleTimer(afterSeconds: seconds) { [weak self] in
            guard let self, let waiter = self.waiters[id]?.removeValue(forKey: key) else { return }
            if self.waiters[id]?.isEmpty == true { self.waiters.removeValue(forKey: id) }
            waiter.respond(.json(status: 200, waiter.current))
        }
    }

    func taskChanged(_ event: PublishedEvent) {
        guard let list = waiters[event.taskID] else { return }
        var remaining: [ObjectIdentifier: Waiter] = [:]
        for (key, waiter) in list {
            guard event.seq > waiter.after else {
                remaining[key] = waiter
                continue
            }
            if let timer = waiter.timer { loop.cancelTimer(timer) }
            if let json = event.taskJSON {
                waiter.respond(.json(status: 200, json))
            } else {
                waiter.respond(.error(status: 404, code: "not_found", message: "the task \(event.taskID) was deleted"))
            }
        }
        waiters[event.taskID] = remaining.isEmpty ? nil : remaining
    }
}
