import ArgumentParser
import Glibc
import HeraldLoop

@main
struct Herald: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "herald",
        abstract: "A live-progress push server: workers report task progress over HTTP, dashboards receive it over WebSocket.",
        discussion: """
            Start the server with `herald serve`, then open http://127.0.0.1:8080/. \
            See docs/protocol.md for the HTTP and WebSocket protocol.
            """,
        version: "herald \(HeraldVersionString.value)",
        subcommands: [Serve.self, TaskCommand.self, WatchCommand.self, TokenCommand.self, BrokerCommand.self, WorkerCommand.self, RedisImportCommand.self]
    )

    /// `herald serve` also reads `HERALD_<FLAG>` variables (EnvironmentOptions); the workers
    /// and the broker a supervisor starts get every value through their arguments instead,
    /// so each reaches them once, as the supervisor parsed it.
    static func main() {
        // Log lines still queued for stderr go out before the process ends, within a bound:
        // a stderr nobody reads must not keep a stopping server alive.
        atexit { LogWriter.standardError.flush(timeout: 2) }
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == Serve._commandName {
            do {
                arguments = [Serve._commandName] + (try EnvironmentOptions.serveArguments(
                    Array(arguments.dropFirst()), variableNames: environmentNames()) { getenv($0).map { String(cString: $0) } })
            } catch {
                FileDescriptorOutput.standardError("herald serve: environment variable \(error.description)\n")
                Glibc.exit(ExitCode.validationFailure.rawValue)
            }
        }
        main(arguments)
    }

    /// The names of the process's environment variables.
    static func environmentNames() -> [String] {
        var names: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            names.append(String(text.prefix { $0 != "=" }))
            entry += 1
        }
        return names
    }
}
