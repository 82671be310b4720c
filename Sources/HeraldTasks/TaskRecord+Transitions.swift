import Glibc  // exp()
import HeraldWire

/// The contract's transition table. Each method either changes the task and names the event,
/// or throws and leaves the task exactly as it was.
extension TaskRecord {
    /// The smoothing time constant of `rate`: reports over roughly the last 10 s count most.
    static let rateTimeConstantSeconds = 10.0

    mutating func start(now: Int64) throws(TaskError) -> TaskEventName {
        guard status == .queued else { throw .invalidTransition("start", from: status) }
        status = .running
        startedAt = now
        heartbeatAt = now
        rateSampleAt = now
        rateSampleDone = done
        touch(now)
        return .started
    }

    mutating func report(_ p: ProgressInput, now: Int64) throws(TaskError) -> TaskEventName {
        guard status.holdsLease else {
            throw .invalidTransition("report progress on", from: status, hint: status == .queued ? "start it first" : "")
        }
        if let done = p.done, done < self.done {
            throw TaskError(status: 409, code: "done_decreased",
                            message: "done \(done) is below the current \(self.done) of attempt \(attempt); reports may not go backwards")
        }
        if let total = p.total { self.total = total }
        if let done = p.done { self.done = done }
        if total == nil, let percent = p.percent { directPercent = percent }
        if let message = p.message { self.message = message }
        renewLease(now)
        updateRate(now)
        touch(now)
        return .progress
    }

    /// Renews the lease; an event (`progress` with stale false) only when it clears staleness.
    mutating func heartbeat(now: Int64) throws(TaskError) -> TaskEventName? {
        guard status.holdsLease else { throw .invalidTransition("heartbeat", from: status) }
        let wasStale = stale
        renewLease(now)
        guard wasStale else { return nil }
        touch(now)
        return .progress
    }

    mutating func complete(message: String?, result: JSONValue?, now: Int64) throws(TaskError) -> TaskEventName {
        guard status == .running else {
            throw .invalidTransition("complete", from: status, hint: status == .cancelling ? "cancel was requested: confirm with /cancelled" : "")
        }
        if let message { self.message = message }
        self.result = result
        if let total, done < total { done = total }  // a finished task is 100 %
        if total == nil, directPercent != nil { directPercent = 100 }
        etaSeconds = 0
        finish(.succeeded, now)
        return .succeeded
    }

    mutating func fail(_ failure: TaskFailure, now: Int64) throws(TaskError) -> TaskEventName {
        guard status.holdsLease else { throw .invalidTransition("fail", from: status) }
        error = failure
        etaSeconds = nil
        finish(.failed, now)
        return .failed
    }

    mutating func cancel(now: Int64) throws(TaskError) -> TaskEventName {
        switch status {
        case .queued:
            finish(.cancelled, now)
            return .cancelled
        case .running:
            status = .cancelling
            touch(now)
            return .cancelling
        default:
            throw .invalidTransition("cancel", from: status)
        }
    }

    mutating func confirmCancelled(now: Int64) throws(TaskError) -> TaskEventName {
        guard status == .cancelling else { throw .invalidTransition("confirm the cancellation of", from: status, hint: "only a cancelling task can be") }
        finish(.cancelled, now)
        return .cancelled
    }

    mutating func retry(now: Int64) throws(TaskError) -> TaskEventName {
        guard status == .failed || status == .cancelled else { throw .invalidTransition("retry", from: status) }
        status = .queued
        attempt += 1
        stale = false
        done = 0
        directPercent = nil
        rate = nil
        etaSeconds = nil
        error = nil
        result = nil
        startedAt = nil
        finishedAt = nil
        heartbeatAt = nil
        rateSampleAt = nil
        rateSampleDone = nil
        touch(now)
        return .retried
    }

    /// The lease ran out: the worker may be dead.
    mutating func markStale(now: Int64) -> TaskEventName {
        stale = true
        touch(now)
        return .stale
    }

    /// Nobody reported for `expire_s`: the task fails with `lease_expired`.
    mutating func expire(now: Int64) -> TaskEventName {
        error = TaskFailure(code: "lease_expired", message: "no progress or heartbeat for \(Self.seconds(expireSeconds)) s")
        etaSeconds = nil
        finish(.failed, now)
        return .failed
    }

    // MARK: Helpers

    private mutating func renewLease(_ now: Int64) {
        heartbeatAt = now
        stale = false
    }

    private mutating func touch(_ now: Int64) {
        updatedAt = max(updatedAt, now)
    }

    private mutating func finish(_ terminal: TaskStatus, _ now: Int64) {
        status = terminal
        stale = false
        finishedAt = now
        touch(now)
    }

    /// An exponentially weighted rate of `done` per second, and the ETA it implies.
    private mutating func updateRate(_ now: Int64) {
        guard let sampleAt = rateSampleAt, let sampleDone = rateSampleDone else {
            rateSampleAt = now
            rateSampleDone = done
            return
        }
        let dt = Double(now - sampleAt) / 1000
        if dt > 0 {
            let instant = (done - sampleDone) / dt
            let alpha = 1 - exp(-dt / Self.rateTimeConstantSeconds)
            rate = rate.map { $0 + alpha * (instant - $0) } ?? instant
            rateSampleAt = now
            rateSampleDone = done
        }
        if let total, let rate {
            etaSeconds = done >= total ? 0 : (rate > 0 ? (total - done) / rate : nil)
        } else {
            etaSeconds = nil
        }
    }

    private static func seconds(_ d: Double) -> String {
        d == d.rounded() ? String(Int64(d)) : String(d)
    }
}
