import ArgumentParser
import HeraldLoop
import HeraldServer
import Logging

struct BrokerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Own the tasks for several `herald serve --broker PATH` processes, over a Unix socket.",
        discussion: """
            Prints one line `broker listening on PATH` to stderr once servers can connect. Exactly one \
            broker runs per socket (a lock on PATH.lock): a second one exits 1 with a clear message. \
            The socket is created mode 0600 and only processes of the same user are accepted; put it \
            in a directory only you can write (mode 0700). A PATH of `@NAME` is a name in Linux's \
            abstract socket namespace: no file and no lock file (a second broker cannot bind it), and \
            servers connect to it only if the broker is of their own user. SIGTERM or SIGINT exits 0 after recording \
            a clean shutdown, so the next start continues the same epoch.
            """
    )

    @Option(help: ArgumentHelp("The Unix socket to listen on.", valueName: "path"))
    var socket: String

    @Option(name: .customLong("data"), help: ArgumentHelp("Directory for the SQLite database; `:memory:` keeps nothing.", valueName: "dir"))
    var dataDirectory = "./herald-data"

    @OptionGroup var log: LogOptions

    @OptionGroup var tasks: TaskEngineOptions

    /// Set by `herald serve --workers N` when it started this broker: stop when it dies.
    @Option(help: .hidden)
    var supervisorPid: Int32?

    func run() throws {
        if let supervisorPid, !Supervisor.bindChildLifetime(toSupervisor: supervisorPid) {
            FileDescriptorOutput.standardError("herald: broker: supervisor \(supervisorPid) is gone\n")
            throw ExitCode(1)
        }
        log.bootstrap()
        do {
            let broker = try BrokerProcess(socketPath: socket, dataDirectory: dataDirectory, tasks: tasks.configuration, logger: Logger(label: "herald-broker"))
            try broker.run { path in LogWriter.standardError.write("broker listening on \(path)\n") }
        } catch {
            FileDescriptorOutput.standardError("herald: \(error.description)\n")
            throw ExitCode(1)
        }
    }
}
