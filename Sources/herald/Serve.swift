import ArgumentParser
import Glibc
import HeraldServer
import Logging

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the dashboard, the HTTP API and WebSocket endpoints.",
        discussion: """
            Prints one line `listening on http://HOST:PORT` to stderr once connections are accepted \
            (the real port with --port 0). SIGTERM or SIGINT stops accepting, closes WebSockets with \
            code 1001 and exits 0 after in-flight requests finish (at most a few seconds).
            """
    )

    @Option(help: "Address to listen on (0.0.0.0 or :: for every interface).")
    var host = "127.0.0.1"

    @Option(help: "TCP port; 0 picks a free one.")
    var port = 8080

    @Option(name: .customLong("public"), help: ArgumentHelp("Directory of static files to serve.", valueName: "dir"))
    var publicDirectory = "public"

    @Option(name: .customLong("data"), help: ArgumentHelp("Directory for persistent state; `:memory:` keeps nothing.", valueName: "dir"))
    var dataDirectory = "./herald-data"

    @Flag(help: "Enable /echo: an RFC 6455 echo WebSocket (messages up to 16 MiB) and POST body echo, for conformance tests.")
    var echo = false

    @OptionGroup var log: LogOptions

    @Option(help: ArgumentHelp("Seconds for a request's headers to arrive in full (→ 408).", valueName: "seconds"))
    var headerTimeout = 10.0

    @Option(help: ArgumentHelp("Seconds a request body may stall (→ 408).", valueName: "seconds"))
    var bodyTimeout = 10.0

    @Option(help: ArgumentHelp("Seconds an idle keep-alive connection is kept.", valueName: "seconds"))
    var idleTimeout = 75.0

    @Option(help: ArgumentHelp("Seconds of WebSocket silence before the server pings.", valueName: "seconds"))
    var pingInterval = 30.0

    @Option(help: ArgumentHelp("Seconds to wait for a pong before closing the WebSocket.", valueName: "seconds"))
    var pongTimeout = 10.0

    @Option(help: ArgumentHelp("Largest request body in bytes (→ 413).", valueName: "bytes"))
    var maxBody = 1 << 20

    @Option(help: ArgumentHelp("Largest WebSocket message in bytes (→ close 1009); /echo allows 16 MiB.", valueName: "bytes"))
    var maxMessage = 1 << 20

    @Option(help: ArgumentHelp("Use the `herald broker` listening on this Unix socket instead of owning the tasks (--data is then unused).", valueName: "path"))
    var broker: String?

    @OptionGroup var tasks: TaskEngineOptions

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        for (name, value) in [("--header-timeout", headerTimeout), ("--body-timeout", bodyTimeout), ("--idle-timeout", idleTimeout),
                              ("--ping-interval", pingInterval), ("--pong-timeout", pongTimeout)] where !(value > 0 && value.isFinite) {
            throw ValidationError("\(name) must be a positive number of seconds")
        }
        guard maxBody > 0, maxMessage > 0 else { throw ValidationError("--max-body and --max-message must be positive") }
    }

    func run() throws {
        log.bootstrap()
        var config = ServerConfiguration()
        config.host = host
        config.port = port
        config.publicDirectory = publicDirectory
        config.dataDirectory = dataDirectory
        config.echo = echo
        config.headerTimeout = headerTimeout
        config.bodyTimeout = bodyTimeout
        config.idleTimeout = idleTimeout
        config.pingInterval = pingInterval
        config.pongTimeout = pongTimeout
        config.maxBodyBytes = maxBody
        config.maxMessageBytes = maxMessage
        config.brokerPath = broker
        config.tasks = tasks.configuration
        do {
            let server = try HeraldServer(configuration: config, logger: Logger(label: "herald"))
            try server.run { url in
                // The one line scripts wait for; written straight to stderr, unbuffered.
                FileDescriptorOutput.standardError("listening on \(url)\n")
            }
        } catch {
            FileDescriptorOutput.standardError("herald: \(error.description)\n")
            throw ExitCode(1)
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

enum FileDescriptorOutput {
    static func standardError(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}

enum HeraldVersionString {
    static let value = HeraldVersion.string
}
