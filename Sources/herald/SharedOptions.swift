import ArgumentParser
import HeraldTasks
import Logging

/// `--log-level`, shared by the long-running commands, and the stderr logger it sets up.
struct LogOptions: ParsableArguments {
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func bootstrap() {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

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

    func validate() throws {
        guard history > 0, maxTasks > 0, snapshotTerminal >= 0 else {
            throw ValidationError("--history and --max-tasks must be positive, --snapshot-terminal not negative")
        }
        guard retention > 0 && retention.isFinite else { throw ValidationError("--retention must be a positive number of seconds") }
    }

    var configuration: TaskHubConfiguration {
        var tasks = TaskHubConfiguration()
        tasks.historySize = history
        tasks.retentionSeconds = retention
        tasks.maxTasks = maxTasks
        tasks.snapshotTerminal = snapshotTerminal
        return tasks
    }
}
