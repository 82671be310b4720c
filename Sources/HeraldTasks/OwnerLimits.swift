/// The contract's per-owner limits (`--owner-max-active`, `--owner-max-rate`), as counts the
/// task authority keeps: it sees every change of every process (`--workers`, `--broker`), so
/// the limits hold across them all. Tasks without owner count together as one owner (the key
/// nil). A value type with no clock and no tasks: the hub tells it each status change and
/// each create, and asks it before a change that would break a limit.
struct OwnerLimits {
    /// The contract: "at most N creates per owner in any 60 s".
    static let rateWindowMilliseconds: Int64 = 60_000
    /// `Retry-After` of `too_many_active` is the soonest ETA of the owner's running tasks,
    /// clamped: the contract wants at least 1 s, and an ETA beyond a minute is too rough to make
    /// a client wait that long for a slot that a cancel or failure may free any moment.
    static let activeRetryAfterRange = 1...60
    /// `Retry-After` of `too_many_active` when no running task of the owner has an ETA (all
    /// queued, or no `total`): soon enough that a freed slot is taken quickly, and a client that
    /// honours it asks at most 12 times a minute.
    static let defaultActiveRetryAfterSeconds = 5
    /// How often the create logs of owners with no create in the last window are dropped, so
    /// memory is spent only on owners with recent creates; a log outlives its window by at most
    /// this much.
    static let sweepIntervalMilliseconds = rateWindowMilliseconds

    let maxActive: Int?
    let maxRate: Int?
    /// Each owner's queued, running and cancelling task ids (their ETAs give `Retry-After`);
    /// kept only while `maxActive` is set, so the limits cost nothing when they are off.
    private var active: [String?: Set<String>] = [:]
    private var createLogs: [String?: OwnerCreateLog] = [:]
    private var nextSweep = Int64.min

    init(maxActive: Int?, maxRate: Int?) {
        self.maxActive = maxActive
        self.maxRate = maxRate
    }

    /// The limits a hub with `configuration` starts with (its own, and a load's made for it).
    init(_ configuration: TaskHubConfiguration) {
        self.init(maxActive: configuration.ownerMaxActive, maxRate: configuration.ownerMaxRate)
    }

    func activeIDs(of owner: String?) -> Set<String> { active[owner] ?? [] }

    /// Whether one more queued task would take `owner` past `maxActive`.
    func isAtActiveLimit(_ owner: String?) -> Bool {
        guard let maxActive else { return false }
        return (active[owner]?.count ?? 0) >= maxActive
    }

    /// Follows one task's status: `from` nil for a task created or loaded from the store, `to`
    /// nil for one removed. Only crossings between active and terminal change a count.
    mutating func noteStatus(of id: String, owner: String?, from: TaskStatus?, to: TaskStatus?) {
        guard maxActive != nil else { return }
        let wasActive = from.map { !$0.isTerminal } ?? false
        let isActive = to.map { !$0.isTerminal } ?? false
        guard wasActive != isActive else { return }
        if isActive {
            active[owner, default: []].insert(id)
        } else {
            active[owner]?.remove(id)
            if active[owner]?.isEmpty == true { active.removeValue(forKey: owner) }
        }
    }

    /// Whole seconds until `owner` may create once more, or nil when it may now: the oldest of
    /// its last `maxRate` creates must have left the window.
    func rateRetryAfter(_ owner: String?, now: Int64) -> Int? {
        guard maxRate != nil, let oldest = createLogs[owner]?.oldestOfFull else { return nil }
        // The clock is the wall clock (leases survive restarts): capped at one window so a clock
        // stepped back cannot make an owner wait longer than the window itself.
        let waitMilliseconds = min(oldest + Self.rateWindowMilliseconds - now, Self.rateWindowMilliseconds)
        guard waitMilliseconds > 0 else { return nil }
        return Int((waitMilliseconds + 999) / 1000)  // whole seconds, rounded up: ≥ 1
    }

    /// Counts a create that happened (refused ones never count).
    mutating func recordCreate(_ owner: String?, now: Int64) {
        guard let maxRate else { return }
        sweepCreateLogs(now: now)
        createLogs[owner, default: OwnerCreateLog(capacity: maxRate)].append(now)
    }

    /// Owners that have logs (for tests: the sweep keeps only recent ones).
    var ownersWithCreateLogs: Int { createLogs.count }

    private mutating func sweepCreateLogs(now: Int64) {
        guard now >= nextSweep else { return }
        nextSweep = now + Self.sweepIntervalMilliseconds
        createLogs = createLogs.filter { _, log in (log.newest ?? .min) > now - Self.rateWindowMilliseconds }
    }
}
