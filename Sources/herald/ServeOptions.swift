import ArgumentParser
import HeraldRedis
import HeraldAccess
import HeraldDashboard
import HeraldServer
import Logging

/// The options of one HTTP server process, shared by `herald serve` and the hidden
/// `herald worker` its supervisor starts (which gets them back through `workerArguments`).
struct ServeOptions: ParsableArguments {
    @Option(help: "Address to listen on (0.0.0.0 or :: for every interface).")
    var host = "127.0.0.1"

    @Option(help: "TCP port; 0 picks a free one.")
    var port = 8080

    @Option(name: .customLong("public"), help: ArgumentHelp(
        "Serve the static files of this directory instead. Default: the dashboard and /herald.js built into the binary (public/ as it was at build time), so `herald serve` works from any directory.",
        valueName: "dir"))
    var publicDirectory: String?

    @Option(name: .customLong("data"), help: ArgumentHelp("Directory for persistent state; `:memory:` keeps nothing.", valueName: "dir"))
    var dataDirectory = "./herald-data"

    @Flag(help: "Enable /echo: an RFC 6455 echo WebSocket (messages up to 16 MiB) and POST body echo, for conformance tests.")
    var echo = false

    @Flag(help: "Enable the benchmark endpoints: WebSocket /sub/<topic> and POST /pub/<topic> (body sent verbatim to the topic's subscribers, 202), through the same fan-out as task events.")
    var bench = false

    @OptionGroup var log: LogOptions

    @Option(help: ArgumentHelp(
        "One line on stderr per HTTP request and per WebSocket session (when it ends), in --log-format, at log level info.",
        valueName: "on|off"))
    var accessLog: Switch = .on

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp(
        "Serve only TLS (https, wss; TLS 1.2 and 1.3) with this PEM certificate chain; needs --tls-key. SIGHUP re-reads both.",
        valueName: "path"))
    var tlsCertificate: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("The PEM private key of --tls-cert.", valueName: "path"))
    var tlsKey: String?

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

    @Flag(inversion: .prefixedNo, help: "Negotiate permessage-deflate (RFC 7692) when a client offers it; --no-deflate never does.")
    var deflate = true

    @Option(help: ArgumentHelp(
        "Use the `herald broker` listening on this Unix socket instead of owning the tasks (--data is then unused); with --workers, start one there unless one runs.",
        valueName: "path"))
    var broker: String?

    @Option(help: ArgumentHelp(
        "Keep the tasks in Redis, shared by every process and host with the same URL and --redis-prefix: redis://[[user]:password@]host[:port][/db] (give an IP or a name /etc/hosts resolves). --data is then unused.",
        valueName: "url"))
    var redis: String?

    @Option(help: ArgumentHelp("Key prefix in Redis: stores with different prefixes share nothing.", valueName: "prefix"))
    var redisPrefix = "herald"

    @Option(help: ArgumentHelp(
        "Seconds Redis has to answer; changes get 503 storage_unavailable past it (and are then never applied).",
        valueName: "seconds"))
    var redisTimeout = 3.0

    @OptionGroup var tasks: TaskEngineOptions

    @Option(name: .customLong("allow-origin"), help: ArgumentHelp(
        "Let pages from this origin call the API cross-origin (CORS), e.g. https://ops.example.com; `*` for any. Repeatable.",
        valueName: "origin"))
    var allowedOrigins: [String] = []

    @Option(help: ArgumentHelp(
        "The app backend's secret. With --auth-secret-file it is accepted as an admin token; alone, changes (POST and DELETE under /api) need `Authorization: Bearer TOKEN` and reads stay open. Default: $HERALD_PUBLISH_TOKEN (which keeps it out of `ps`).",
        valueName: "token"))
    var publishToken: String?

    @Option(name: .customLong("auth-secret-file"), help: ArgumentHelp(
        "Turn access control on: every /api, /ws and /metrics request needs a JWT (HS256) signed with this file's bytes (trailing whitespace removed; at least 32 bytes), or the publish token. Default: $HERALD_AUTH_SECRET_FILE.",
        valueName: "path"))
    var authSecretFile: String?

    /// --auth-secret-file, else $HERALD_AUTH_SECRET_FILE.
    var effectiveAuthSecretFile: String? {
        authSecretFile ?? Environment.nonEmpty("HERALD_AUTH_SECRET_FILE")
    }

    /// The token verifier of --auth-secret-file (nil: access control off). Throws the one-line
    /// reason the server refuses to start with: an unreadable file or a key under 32 bytes.
    func tokenVerifier() throws(AuthSecretError) -> TokenVerifier? {
        guard let path = effectiveAuthSecretFile else { return nil }
        return try TokenVerifier(key: AuthSecret.load(path: path))
    }

    @Option(help: ArgumentHelp(
        "Open client connections (HTTP and WebSocket) this process holds; a new one past it gets 503 server_busy and is closed. With --workers, per worker.",
        valueName: "n"))
    var maxConnections: Int?

    @Option(name: .customLong("max-connections-per-ip"), help: ArgumentHelp(
        "Open connections one client address may hold; a new one past it gets 429 too_many_connections and is closed. With --workers, per worker.",
        valueName: "n"))
    var maxConnectionsPerIP: Int?

    /// --publish-token, else $HERALD_PUBLISH_TOKEN; workers get it through the environment.
    var effectivePublishToken: String? {
        publishToken ?? Environment.nonEmpty("HERALD_PUBLISH_TOKEN")
    }

    func validate() throws {
        if redis != nil, broker != nil {
            throw ValidationError("--redis and --broker are two ways to share tasks; give one")
        }
        if redis != nil { _ = try redisEndpointChecked() }
        guard redisTimeout > 0, redisTimeout <= 600 else { throw ValidationError("--redis-timeout must be between 0 and 600 seconds") }
        guard !redisPrefix.isEmpty, !redisPrefix.contains("{"), !redisPrefix.contains("}") else {
            throw ValidationError("--redis-prefix must be non-empty and without { or }")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
        for (name, value) in [("--header-timeout", headerTimeout), ("--body-timeout", bodyTimeout), ("--idle-timeout", idleTimeout),
                              ("--ping-interval", pingInterval), ("--pong-timeout", pongTimeout)] where !(value > 0 && value.isFinite) {
            throw ValidationError("\(name) must be a positive number of seconds")
        }
        guard maxBody > 0, maxMessage > 0 else { throw ValidationError("--max-body and --max-message must be positive") }
        for origin in allowedOrigins where origin != "*" && !(origin.hasPrefix("http://") || origin.hasPrefix("https://")) {
            throw ValidationError("--allow-origin must be `*` or an origin like https://ops.example.com, not \(origin)")
        }
        if (tlsCertificate == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if publishToken?.isEmpty == true { throw ValidationError("--publish-token must not be empty") }
        if let maxConnections, maxConnections < 1 { throw ValidationError("--max-connections must be a positive whole number") }
        if let maxConnectionsPerIP, maxConnectionsPerIP < 1 {
            throw ValidationError("--max-connections-per-ip must be a positive whole number")
        }
    }

    var configuration: ServerConfiguration {
        var config = ServerConfiguration()
        config.host = host
        config.port = port
        config.publicDirectory = publicDirectory
        if publicDirectory == nil { config.embeddedPublic = DashboardFiles.embedded }
        config.dataDirectory = dataDirectory
        config.echo = echo
        config.bench = bench
        config.headerTimeout = headerTimeout
        config.tlsCertificatePath = tlsCertificate
        config.tlsKeyPath = tlsKey
        config.bodyTimeout = bodyTimeout
        config.idleTimeout = idleTimeout
        config.pingInterval = pingInterval
        config.pongTimeout = pongTimeout
        config.maxBodyBytes = maxBody
        config.maxMessageBytes = maxMessage
        config.deflate = deflate
        config.brokerPath = broker
        config.redis = redisEndpoint
        config.redisPrefix = redisPrefix
        config.redisTimeout = redisTimeout
        config.tasks = tasks.configuration
        config.allowedOrigins = allowedOrigins
        config.publishToken = effectivePublishToken
        config.maxConnections = maxConnections
        config.maxConnectionsPerIP = maxConnectionsPerIP
        // Access lines are info lines: --log-level warning silences them like every info line.
        config.accessLog = accessLog == .on && log.logLevel <= .info
        config.logFormat = log.logFormat
        return config
    }

    /// --redis, parsed (validated in `validate`).
    var redisEndpoint: RedisEndpoint? { try? redisEndpointChecked() }

    func redisEndpointChecked() throws -> RedisEndpoint? {
        guard let redis else { return nil }
        do {
            return try RedisEndpoint(url: redis)
        } catch {
            throw ValidationError(error.description)
        }
    }

    /// The argv of a worker: these options as parsed (the task options stay with the broker),
    /// the supervisor's port and broker, and the hidden flags of `herald worker`. argv[0] is
    /// "herald" and `--port` comes early, so `ps -o args` reads `herald worker --port 8080 …`.
    func workerArguments(_ launch: WorkerLaunch) -> [String] {
        var arguments = ["herald", "worker", "--port", String(launch.port), "--host", host]
        if let publicDirectory { arguments += ["--public", publicDirectory] }
        if echo { arguments.append("--echo") }
        if bench { arguments.append("--bench") }
        arguments.append(deflate ? "--deflate" : "--no-deflate")
        for origin in allowedOrigins { arguments += ["--allow-origin", origin] }
        if let path = effectiveAuthSecretFile { arguments += ["--auth-secret-file", path] }

        if let tlsCertificate, let tlsKey { arguments += ["--tls-cert", tlsCertificate, "--tls-key", tlsKey] }
        if let maxConnections { arguments += ["--max-connections", String(maxConnections)] }
        if let maxConnectionsPerIP { arguments += ["--max-connections-per-ip", String(maxConnectionsPerIP)] }
        arguments += log.arguments
        arguments += ["--access-log", accessLog.rawValue]
        arguments += [
            "--header-timeout", String(headerTimeout), "--body-timeout", String(bodyTimeout),
            "--idle-timeout", String(idleTimeout), "--ping-interval", String(pingInterval),
            "--pong-timeout", String(pongTimeout), "--max-body", String(maxBody), "--max-message", String(maxMessage),
        ]
        if let redis {
            // Each worker keeps its own mirror of the tasks in Redis: the task options go with it.
            arguments += ["--redis", redis, "--redis-prefix", redisPrefix, "--redis-timeout", String(redisTimeout)] + tasks.arguments
        } else {
            arguments += ["--broker", launch.brokerPath]
        }
        arguments += [
            "--worker-index", String(launch.index), "--restarts", String(launch.restarts),
            "--supervisor-pid", String(launch.supervisorPID), "--ready-fd", String(launch.readyFD),
        ]
        return arguments
    }

    /// The argv of the broker a supervisor starts: these task and log options, its socket and data.
    func brokerArguments(_ launch: BrokerLaunch) -> [String] {
        ["herald", "broker", "--socket", launch.socketPath, "--data", launch.dataDirectory]
            + log.arguments + tasks.arguments + ["--supervisor-pid", String(launch.supervisorPID)]
    }

    /// Runs one server process until it stops; errors are printed and become exit status 1.
    func runServer(_ config: ServerConfiguration, logger: Logger, onListening: (String) -> Void) throws {
        var config = config
        do {
            config.tokenVerifier = try tokenVerifier()
        } catch {
            FileDescriptorOutput.standardError("herald: \(error.description)\n")
            throw ExitCode(1)
        }
        do {
            let server = try HeraldServer(configuration: config, logger: logger)
            try server.run(onListening: onListening)
        } catch {
            FileDescriptorOutput.standardError("herald: \(error.description)\n")
            throw ExitCode(1)
        }
    }
}

extension DashboardFiles {
    /// public/ as it was at build time, for the server's embedded source.
    static var embedded: [EmbeddedFile] {
        all.map { EmbeddedFile(path: $0.path, bytes: $0.bytes, gzipped: $0.gzipped, digest: $0.sha256, lastModifiedSeconds: $0.lastModified) }
    }
}

extension LogOptions {
    var arguments: [String] { ["--log-level", logLevel.rawValue, "--log-format", logFormat.rawValue] }
}

/// An `on|off` option (nginx's spelling, as in `access_log off`).
enum Switch: String, ExpressibleByArgument, CaseIterable {
    case on, off
}

extension TaskEngineOptions {
    /// The limits live with the tasks, so in `--workers` mode they go to the broker.
    var arguments: [String] {
        var arguments = ["--history", String(history), "--retention", String(retention), "--max-tasks", String(maxTasks),
                         "--snapshot-terminal", String(snapshotTerminal)]
        if let ownerMaxActive { arguments += ["--owner-max-active", String(ownerMaxActive)] }
        if let ownerMaxRate { arguments += ["--owner-max-rate", String(ownerMaxRate)] }
        if let taskTimeout { arguments += ["--task-timeout", String(taskTimeout)] }
        if let taskStall { arguments += ["--task-stall", String(taskStall)] }
        return arguments
    }
}
