import ArgumentParser
import HeraldServer
import HeraldTasks
import Logging

/// `--log-level` and `--log-format`, shared by the long-running commands, and the stderr
/// logger they set up.
struct LogOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(help: ArgumentHelp(
        "How lines on stderr are written: text (readable lines) or json (one JSON object per line, fixed keys). The `listening on` line stays exactly as it is in both.",
        valueName: "text|json"))
    var logFormat: LogFormat = .text

    func bootstrap() {
        HeraldLogHandler.bootstrap(level: logLevel, format: logFormat)
    }
}

extension LogFormat: ExpressibleByArgument {}

/// The task actor's limits, for whichever process owns the tasks (`serve` or `broker`).
struct TaskEngineOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Events kept for resume with since=.", valueName: "events"))
    var history = 10_000

    @Option(help: ArgumentHelp("Seconds a finished task is kept before it is removed (default 7 days).", valueName: "seconds"))
    var retention = 604_800.0

    @Option(help: ArgumentHelp("Most tasks held; the oldest finished ones are removed first.", valueName: "n"))
    var maxTasks = 100_000

    @Option(help: ArgumentHelp("Finished tasks in a snapshot (every unfinished task is always in).", valueName: "n"))
    var snapshotTerminal = 200

    @Option(help: ArgumentHelp(
        "Most tasks one owner may have queued, running or cancelling; a create or retry past it gets 429 too_many_active with Retry-After. Tasks without owner count as one owner. Default: no limit.",
        valueName: "n"))
    var ownerMaxActive: Int?

    @Option(help: ArgumentHelp(
        "Most tasks one owner may create in any 60 s; past it 429 rate_limited with Retry-After. Default: no limit.",
        valueName: "n"))
    var ownerMaxRate: Int?

    @Option(help: ArgumentHelp(
        "timeout_s of a task created without one: still running (or cancelling) this many seconds after it started → failed with error timeout. Up to 2592000 (30 days). Default: none.",
        valueName: "seconds"))
    var taskTimeout: Double?

    @Option(help: ArgumentHelp(
        "stall_s of a task created without one: running with done, percent and message unchanged this many seconds (heartbeats do not count) → failed with error stalled. Up to 2592000 (30 days). Default: none.",
        valueName: "seconds"))
    var taskStall: Double?

    func validate() throws {
        guard history > 0, maxTasks > 0, snapshotTerminal >= 0 else {
            throw ValidationError("--history and --max-tasks must be positive, --snapshot-terminal not negative")
        }
        guard retention > 0 && retention.isFinite else { throw ValidationError("--retention must be a positive number of seconds") }
        for (name, value) in [("--owner-max-active", ownerMaxActive), ("--owner-max-rate", ownerMaxRate)] {
            if let value, value <= 0 { throw ValidationError("\(name) must be a positive integer, not \(value) (leave it out for no limit)") }
        }
        for (name, value) in [("--task-timeout", taskTimeout), ("--task-stall", taskStall)] {
            if let value, !TaskValidation.isValidDeadline(value) {
                throw ValidationError("\(name) must be more than 0 and at most \(Int(TaskValidation.maxDeadlineSeconds)) seconds (30 days), not \(value) (leave it out for none)")
            }
        }
    }

    var configuration: TaskHubConfiguration {
        var tasks = TaskHubConfiguration()
        tasks.historySize = history
        tasks.retentionSeconds = retention
        tasks.maxTasks = maxTasks
        tasks.snapshotTerminal = snapshotTerminal
        tasks.ownerMaxActive = ownerMaxActive
        tasks.ownerMaxRate = ownerMaxRate
        tasks.defaultTimeoutSeconds = taskTimeout
        tasks.defaultStallSeconds = taskStall
        return tasks
    }
}
