import HeraldWire

/// The contract's transition table. Each method either changes the task and names the event,
/// or throws and leaves the task exactly as it was.
extension TaskRecord {
    /// `rate` is the average speed over the reports of the last 30 s: long enough to smooth
    /// bursts, short enough to follow a job that speeds up or stalls.
    static let rateWindowMilliseconds: Int64 = 30_000
    /// Samples closer together than this are merged (the newest wins), so a worker reporting
    /// 1,000 times a second does not shrink the window to a few milliseconds of noise.
    static let rateSampleSpacingMilliseconds: Int64 = 250
    /// A rate over less than this is not trusted yet.
    static let minimumRateSpanMilliseconds: Int64 = 200

    mutating func start(now: Int64) throws(TaskError) -> TaskEventName {
        guard status == .queued else { throw .invalidTransition("start", from: status) }
        status = .running
        startedAt = now
        heartbeatAt = now
        rateSamples = [RateSample(at: now, done: done)]
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
        let before = progressMark
        if let total = p.total { self.total = total }
        if let done = p.done { self.done = done }
        if total == nil, let percent = p.percent { directPercent = percent }
        if let message = p.message { self.message = message }
        noteProgress(since: before, now: now)
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
        let before = progressMark
        if let message { self.message = message }
        self.result = result
        if let total, done < total { done = total }  // a finished task is 100 %
        if total == nil, directPercent != nil { directPercent = 100 }
        noteProgress(since: before, now: now)
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
        progressAt = nil
        rateSamples = []
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
        failOverdue(TaskFailure(code: "lease_expired", message: "no progress or heartbeat for \(Self.seconds(expireSeconds)) s"), now: now)
    }

    /// A deadline the server watches passed (lease, `timeout_s`, `stall_s`): the task fails.
    mutating func failOverdue(_ failure: TaskFailure, now: Int64) -> TaskEventName {
        error = failure
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
        rateSamples = []  // no more reports: a finished task (most of those held) keeps no samples
        touch(now)
    }

    /// The rate of `done` per second over the recent samples, and the ETA it implies.
    private mutating func updateRate(_ now: Int64) {
        appendRateSample(now)
        if let first = rateSamples.first, let last = rateSamples.last, last.at - first.at >= Self.minimumRateSpanMilliseconds {
            rate = max(0, (last.done - first.done) / (Double(last.at - first.at) / 1000))
        }
        if let total, let rate {
            etaSeconds = done >= total ? 0 : (rate > 0 ? (total - done) / rate : nil)
        } else {
            etaSeconds = nil
        }
    }

    /// Moves the sample window as a report does, without computing rate and ETA: a mirror
    /// applying a report another host computed keeps the samples the next report needs.
    mutating func appendRateSample(_ now: Int64) {
        let sample = RateSample(at: now, done: done)
        // The newest sample floats until it is far enough from the one before it.
        if rateSamples.count >= 2, now - rateSamples[rateSamples.count - 2].at < Self.rateSampleSpacingMilliseconds {
            rateSamples[rateSamples.count - 1] = sample
        } else {
            rateSamples.append(sample)
        }
        // Keep the window, but always two samples to measure between.
        while rateSamples.count > 2, rateSamples[1].at <= now - Self.rateWindowMilliseconds { rateSamples.removeFirst() }
    }

    static func seconds(_ d: Double) -> String {
        d == d.rounded() ? String(Int64(d)) : String(d)
    }
}
