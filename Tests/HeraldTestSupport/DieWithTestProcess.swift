import Foundation

/// Children of a test process that die with it, as the e2e fixtures' are (PR_SET_PDEATHSIG in
/// Tests/e2e/conftest.py): a `herald serve` started by a test must not outlive a test process
/// that crashed or was killed with -9, holding a port and a --data directory.
///
/// Two details make this work from Swift:
/// - posix_spawn (which Foundation's `Process` uses) runs no code of ours between fork and
///   exec, so the child is started through `setpriv --pdeathsig KILL --` (util-linux, in every
///   Debian), which sets the death signal and then execs the program in its own place: the
///   pid the test sees is the program's.
/// - the death signal is sent when the *thread* that started the child ends, not the process
///   (prctl(2)). Tests run on pool threads that exit when idle, which would kill a server in
///   the middle of its test; so children are started from `spawnThread`, one thread that lives
///   as long as the process.
public enum DieWithTestProcess {
    public static let setpriv = "/usr/bin/setpriv"

    /// `program arguments` as `setpriv --pdeathsig KILL -- program arguments`.
    public static func wrap(_ program: String, _ arguments: [String]) -> (program: String, arguments: [String]) {
        (setpriv, ["--pdeathsig", "KILL", "--", program] + arguments)
    }

    /// Starts `process` (executable and arguments set) so that it gets SIGKILL when this
    /// process dies.
    public static func run(_ process: Process) throws {
        guard let program = process.executableURL?.path else {
            throw CocoaError(.executableNotLoadable)
        }
        let wrapped = wrap(program, process.arguments ?? [])
        process.executableURL = URL(fileURLWithPath: wrapped.program)
        process.arguments = wrapped.arguments
        let box = UncheckedBox(process)
        try onSpawnThread { try box.value.run() }
    }

    /// Runs `body` on the spawn thread and waits for it: a child started there gets its death
    /// signal only when the whole process ends.
    public static func onSpawnThread<T>(_ body: @escaping () throws -> T) throws -> T {
        let job = SpawnJob(body)
        spawnThread.submit(job)
        job.done.wait()
        return try job.result!.get()
    }

    private static let spawnThread = SpawnThread()
}

private final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

private protocol AnySpawnJob: AnyObject, Sendable {
    func perform()
}

private final class SpawnJob<T>: AnySpawnJob, @unchecked Sendable {
    // @unchecked: `result` is written on the spawn thread before `done` is signalled and read
    // by the submitter only after waiting on it.
    let body: () throws -> T
    var result: Result<T, Error>?
    let done = DispatchSemaphore(value: 0)
    init(_ body: @escaping () throws -> T) { self.body = body }
    func perform() {
        result = Result { try body() }
        done.signal()
    }
}

/// One thread that never ends, running submitted jobs in order.
private final class SpawnThread: @unchecked Sendable {
    // @unchecked: `jobs` is only touched while holding `condition`.
    private let condition = NSCondition()
    private var jobs: [any AnySpawnJob] = []

    init() {
        let thread = Thread { [unowned self] in
            while true {
                condition.lock()
                while jobs.isEmpty { condition.wait() }
                let job = jobs.removeFirst()
                condition.unlock()
                job.perform()
            }
        }
        thread.name = "test-spawn"
        thread.start()
    }

    func submit(_ job: any AnySpawnJob) {
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }
}
