import ArgumentParser
import Glibc
import HeraldServer
import Logging

/// `herald worker`: one HTTP server process of `herald serve --workers N`, started by its
/// supervisor and never by hand (hidden). It is `serve --broker PATH` with the listener bound
/// with SO_REUSEPORT, a name and restart count for logs and /metrics, a readiness pipe instead
/// of the `listening on` line, and SIGTERM when the supervisor dies.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "One worker process of `herald serve --workers N` (started by the supervisor).",
        shouldDisplay: false
    )

    @OptionGroup var options: ServeOptions

    @Option(help: .hidden)
    var workerIndex = 1

    @Option(help: .hidden)
    var restarts = 0

    @Option(help: .hidden)
    var supervisorPid: Int32?

    @Option(help: .hidden)
    var readyFd: Int32?

    func validate() throws {
        guard options.broker != nil || options.redis != nil else { throw ValidationError("herald worker needs --broker PATH or --redis URL") }
    }

    func run() throws {
        if let supervisorPid, !Supervisor.bindChildLifetime(toSupervisor: supervisorPid) {
            FileDescriptorOutput.standardError("herald: worker \(workerIndex): supervisor \(supervisorPid) is gone\n")
            throw ExitCode(1)
        }
        options.log.bootstrap()
        var config = options.configuration
        config.reusePort = true
        config.processName = "worker-\(workerIndex)"
        config.restartCount = restarts
        let readyFd = self.readyFd
        try options.runServer(config, logger: Logger(label: "herald worker-\(workerIndex)")) { url in
            // The supervisor prints the one `listening on` line once every worker is ready.
            guard let readyFd else { return printListening(url) }
            var byte: UInt8 = 1
            _ = write(readyFd, &byte, 1)
            close(readyFd)
        }
    }
}
