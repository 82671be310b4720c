import ArgumentParser
import HeraldServer
import HeraldTasks
import Logging

struct BrokerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Own the tasks for several `herald serve --broker PATH` processes, over a Unix socket.",
        discussion: """
            Prints one line `broker listening on PATH` to stderr once servers can connect. Exactly one \
            broker runs per socket (a lock on PATH.lock): a second one exits 1 with a clear message. \
            The socket is created mode 0600 and only processes of the same user are accepted; put it \
            in a directory only you can write (mode 0700). SIGTERM or SIGINT exits 0 after recording \
            a clean shutdown, so the next start continues the same epoch.
            """
    )

    @Option(help: ArgumentHelp("The Unix socket to listen on.", valueName: "path"))
    var socket: String

    @Option(name: .customLong("data"), help: ArgumentHelp("Directory for the SQLite database; `:memory:` keeps nothing.", valueName: "dir"))
    var dataDirectory = "./herald-data"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(help: ArgumentHelp("Events kept for resume with since=.", valueName: "events"))
    var history = 10_000

    @Option(help: ArgumentHelp("Seconds a finished task is kept before it is removed (default 7 days).", valueName: "seconds"))
    var retention = 604_800.0

    @Option(help: ArgumentHelp("Most tasks held; the oldest finished ones are removed first.", valueName: "n"))
    var maxTasks = 100_000

    @Option(help: ArgumentHelp("Finished tasks in a snapshot (every unfinished task is always in).", valueName: "n"))
    var snapshotTerminal = 200

    func run() throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var tasks = TaskHubConfiguration()
        tasks.historySize = history
        tasks.retentionSeconds = retention
        tasks.maxTasks = maxTasks
        tasks.snapshotTerminal = snapshotTerminal
        do {
            let broker = try BrokerProcess(socketPath: socket, dataDirectory: dataDirectory, tasks: tasks, logger: Logger(label: "herald-broker"))
            try broker.run { path in FileDescriptorOutput.standardError("broker listening on \(path)\n") }
        } catch {
            FileDescriptorOutput.standardError("herald: \(error.description)\n")
            throw ExitCode(1)
        }
    }
}
