/// One owner's most recent create times (ms), at most `capacity` of them: a ring that
/// overwrites the oldest. With `capacity` = the rate limit N, "at most N creates in any window"
/// holds exactly when the oldest of the last N is at least one window old — a sliding log,
/// not an approximation such as fixed windows (which allow 2N across a boundary) or GCRA
/// (which smooths N into evenly spaced slots).
struct OwnerCreateLog {
    private var times: [Int64] = []
    /// Where the next time goes once the ring is full; that slot holds the oldest time.
    private var next = 0
    let capacity: Int

    init(capacity: Int) {
        precondition(capacity > 0, "a create log holds at least one time")
        self.capacity = capacity
    }

    /// The oldest of the last `capacity` creates, or nil while there were fewer.
    var oldestOfFull: Int64? { times.count == capacity ? times[next] : nil }

    /// The most recent create.
    var newest: Int64? {
        guard !times.isEmpty else { return nil }
        return times.count < capacity ? times[times.count - 1] : times[(next + capacity - 1) % capacity]
    }

    mutating func append(_ time: Int64) {
        if times.count < capacity {
            times.append(time)
        } else {
            times[next] = time
            next = (next + 1) % capacity
        }
    }
}
