import ArgumentParser
import Glibc
import HeraldLoop
import HeraldServer
import Logging

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the dashboard, the HTTP API and WebSocket endpoints.",
        discussion: """
            Prints one line `listening on http://HOST:PORT` to stderr once connections are accepted \
            (the real port with --port 0). SIGTERM or SIGINT stops accepting, closes WebSockets with \
            code 1001 and exits 0 after in-flight requests finish (at most a few seconds).

            With --workers N this process becomes a supervisor that serves no HTTP itself. It starts \
            `herald broker` on the --broker socket (default DATA/broker.sock; with --data :memory: a \
            private name in Linux's abstract socket namespace, which leaves no file behind) unless a broker already runs there, then N worker processes \
            that share --port through SO_REUSEPORT (the kernel spreads connections over them; `ps` \
            shows them as `herald worker --port PORT …`). It prints the `listening on` line once every \
            worker listens. A worker or broker that dies is restarted after 0.1 s, doubling to 5 s for \
            repeated quick deaths. SIGTERM stops the workers, then the broker it started, and exits 0; \
            if the supervisor is killed, its children stop by themselves.

            Every option can also come from the environment: HERALD_ and its name in capitals with \
            - as _, e.g. HERALD_PORT=9000, HERALD_MAX_CONNECTIONS=500, HERALD_LOG_FORMAT=json. A \
            repeatable option takes a comma-separated list (HERALD_ALLOW_ORIGIN=https://a.example,https://b.example); \
            a flag takes 1, true, yes or on (0, false, no, off: not set), e.g. HERALD_ECHO=1. An option \
            on the command line wins over its variable; an empty variable counts as unset; a bad value \
            is refused with the variable's name.
            """
    )

    @Option(help: ArgumentHelp(
        "Run N worker processes (1…64) under a supervisor, with a shared broker; see below. Leave out for one process.",
        valueName: "n"))
    var workers: Int?

    @OptionGroup var options: ServeOptions

    func validate() throws {
        if let workers, !(1...SupervisorConfiguration.maxWorkers).contains(workers) {
            throw ValidationError("--workers must be between 1 and \(SupervisorConfiguration.maxWorkers) (leave it out for a single process)")
        }
    }

    func run() throws {
        // SIGHUP reloads the TLS certificate through the loop's signalfd: block it before any
        // thread (the log writer's) starts, or that thread would take it and die of it.
        if options.tlsCertificate != nil { SignalWatcher.block([SIGHUP]) }
        options.log.bootstrap()
        guard let workers else {
            return try options.runServer(options.configuration, logger: Logger(label: "herald"), onListening: printListening)
        }
        let options = self.options
        do {
            _ = try options.tokenVerifier()  // refuse before starting workers that would refuse too
        } catch {
            FileDescriptorOutput.standardError("herald: \(error.description)\n")
            throw ExitCode(1)
        }
        // Workers inherit the environment: the token reaches them without showing in `ps`.
        if let token = options.effectivePublishToken { setenv("HERALD_PUBLISH_TOKEN", token, 1) }
        if options.tlsCertificate != nil {
            // One set of ticket keys for every worker (a ticket resumes on any of them), handed
            // over in the environment, never written to disk; the certificate is checked here first.
            let keys = TLSTicketKeys.random()
            do {
                _ = try HeraldServer.makeTLSContext(options.configuration, ticketKeys: keys)
            } catch {
                FileDescriptorOutput.standardError("herald: \(error.description)\n")
                throw ExitCode(1)
            }
            setenv(TLSTicketKeys.environmentName, keys.hex, 1)
        }
        var configuration = SupervisorConfiguration(
            workers: workers, host: options.host, port: options.port, brokerPath: options.broker,
            dataDirectory: options.dataDirectory,
            workerArguments: { options.workerArguments($0) }, brokerArguments: { options.brokerArguments($0) },
            sharedStore: options.redisEndpoint.map { "Redis at \($0)" })
        configuration.tls = options.tlsCertificate != nil
        do {
            let supervisor = try Supervisor(configuration: configuration, logger: Logger(label: "herald supervisor"))
            try supervisor.run(onListening: printListening)
        } catch {
            FileDescriptorOutput.standardError("herald: \(error.description)\n")
            throw ExitCode(1)
        }
    }
}

/// The one line scripts wait for, exactly this in every --log-format; queued behind the log
/// lines before it, so stderr keeps the order things happened in.
func printListening(_ url: String) {
    LogWriter.standardError.write("listening on \(url)\n")
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

enum FileDescriptorOutput {
    /// For a message the process ends with: written now, after the log lines queued before it.
    static func standardError(_ text: String) {
        LogWriter.standardError.flush(timeout: 2)
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}

enum HeraldVersionString {
    static let value = HeraldVersion.string
}
