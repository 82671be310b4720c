import Glibc
import HeraldLoop

/// One process a supervisor keeps running: the broker or worker `i` (1-based).
public enum SupervisedRole: Hashable, Sendable, CustomStringConvertible {
    case broker
    case worker(Int)

    public var description: String {
        switch self {
        case .broker: "broker"
        case .worker(let index): "worker \(index)"
        }
    }
}

/// The bookkeeping of `herald serve --workers N`, with no clock and no processes: which pid
/// plays which role, since when, whether it said it is ready, how often each role was restarted
/// and how long its next restart waits. The Supervisor passes times in and carries answers out.
struct SupervisorRoster {
    struct Entry: Equatable {
        var pid: pid_t?
        var startedAt = 0.0
        var ready = false
        var restarts = 0
        var backoff = SupervisorBackoff()
    }

    /// What is known about a process that just ended.
    struct Ending: Equatable {
        let role: SupervisedRole
        let ranFor: Double
        let wasReady: Bool
    }

    let workerCount: Int
    private(set) var entries: [SupervisedRole: Entry] = [:]

    init(workers: Int) {
        workerCount = workers
        for index in 1...workers { entries[.worker(index)] = Entry() }
        entries[.broker] = Entry()
    }

    var workerRoles: [SupervisedRole] { (1...workerCount).map { .worker($0) } }

    func pid(of role: SupervisedRole) -> pid_t? { entries[role]?.pid }

    func restarts(of role: SupervisedRole) -> Int { entries[role]?.restarts ?? 0 }

    func role(of pid: pid_t) -> SupervisedRole? {
        entries.first { $0.value.pid == pid }?.key
    }

    func isReady(_ role: SupervisedRole) -> Bool { entries[role]?.ready ?? false }

    /// Workers that are running (ready or not): the ones to signal when stopping.
    var liveWorkerPIDs: [pid_t] { workerRoles.compactMap { entries[$0]?.pid } }

    /// Every worker runs and has said it is listening.
    var allWorkersReady: Bool {
        workerRoles.allSatisfy { entries[$0]?.pid != nil && entries[$0]?.ready == true }
    }

    mutating func started(_ role: SupervisedRole, pid: pid_t, at now: Double) {
        entries[role, default: Entry()].pid = pid
        entries[role]!.startedAt = now
        entries[role]!.ready = false
    }

    /// The role of `pid`, now marked ready; nil for a pid that is no longer ours.
    mutating func markReady(pid: pid_t) -> SupervisedRole? {
        guard let role = role(of: pid) else { return nil }
        entries[role]!.ready = true
        return role
    }

    /// Forgets `pid`; nil when it was not one of ours.
    mutating func ended(pid: pid_t, at now: Double) -> Ending? {
        guard let role = role(of: pid), let entry = entries[role] else { return nil }
        entries[role]!.pid = nil
        entries[role]!.ready = false
        return Ending(role: role, ranFor: now - entry.startedAt, wasReady: entry.ready)
    }

    /// Counts a restart of `role` and returns its wait, from the slot's own backoff.
    mutating func scheduleRestart(_ role: SupervisedRole, ranFor: Double) -> Double {
        entries[role]!.restarts += 1
        return entries[role]!.backoff.delay(afterRunning: ranFor)
    }

    /// "worker 2 (pid 1234) killed by signal 9; restarting in 0.1 s". No pid when the process
    /// could not even be started.
    static func restartLine(_ role: SupervisedRole, pid: pid_t?, cause: String, delay: Double) -> String {
        "\(name(role, pid: pid)) \(cause); restarting in \(seconds(delay)) s"
    }

    /// "worker 2 (pid 1234)", or "worker 2".
    static func name(_ role: SupervisedRole, pid: pid_t?) -> String {
        pid.map { "\(role) (pid \($0))" } ?? "\(role)"
    }

    /// 0.1 → "0.1", 5.0 → "5".
    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
