import HeraldRedis
import HeraldAccess
import HeraldTasks
import HeraldWire

/// Everything `herald serve` can be told. Defaults are the documented ones (docs/protocol.md).
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// `--public DIR`: serve the static files from that directory; nil serves `embeddedPublic`.
    public var publicDirectory: String?
    /// The dashboard compiled into the binary (the CLI passes HeraldDashboard's files).
    public var embeddedPublic: [EmbeddedFile] = []
    public var dataDirectory = "./herald-data"
    public var echo = false
    /// `/sub/<topic>` and `/pub/<topic>` for `../shared/bench` (`--bench`).
    public var bench = false
    /// Headers must be complete this long after a request's first byte (slowloris) → 408.
    public var headerTimeout = 10.0
    /// `--tls-cert`/`--tls-key`: both set, the port speaks only TLS; re-read on SIGHUP.
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// A body must keep moving: no byte for this long → 408.
    public var bodyTimeout = 10.0
    /// A keep-alive connection with no request in progress is closed after this long.
    public var idleTimeout = 75.0
    /// An idle WebSocket is pinged after this long…
    public var pingInterval = 30.0
    /// …and closed when no pong follows within this long.
    public var pongTimeout = 10.0
    /// How long we wait for the peer's close frame after sending ours (RFC 6455 §7.1.1).
    public var closeHandshakeTimeout = 5.0
    /// Graceful shutdown: connections still open after this long are cut.
    public var shutdownGrace = 5.0
    public var maxBodyBytes = HTTPParserLimits.default.maxBodyBytes
    /// Largest WebSocket message on ordinary endpoints.
    public var maxMessageBytes = 1 << 20
    /// Largest message on /echo: Autobahn's 9.* cases send up to 16 MiB.
    public var maxEchoMessageBytes = 16 << 20
    /// permessage-deflate (RFC 7692) when a client offers it; `--no-deflate` turns it off.
    public var deflate = true
    /// Output queued on one HTTP connection past which we stop reading its pipelined requests.
    public var maxPipelinedOutputBytes = 1 << 20
    public var serverName = "herald/\(HeraldVersion.string)"
    /// History, retention, task cap and snapshot size of the task actor.
    public var tasks = TaskHubConfiguration()
    /// A subscriber whose unsent output passes this (after conflating progress) is closed with
    /// 1008: 4 MiB is thousands of lifecycle events, far more than a live client ever lags.
    public var maxSubscriberQueueBytes = 4 << 20
    /// With a path, tasks live in the `herald broker` listening there (several server processes
    /// share it); without, this process owns them.
    public var brokerPath: String?
    /// `--redis`: the tasks live in Redis (RedisBroker), shared with every host using it.
    public var redis: RedisEndpoint?
    public var redisPrefix = "herald"
    public var redisTimeout = 3.0
    /// How often leases and retention are checked.
    public var leaseCheckInterval = 0.1
    /// Bind the listener with SO_REUSEPORT, so the workers of `herald serve --workers N` share
    /// one port and the kernel spreads connections over them.
    public var reusePort = false
    /// This process in logs and /metrics: "herald", or "worker-2" under a supervisor.
    public var processName = "herald"
    /// How many times the supervisor restarted this worker's slot before this start.
    public var restartCount = 0
    /// Open client connections this process holds before it answers new ones `503 server_busy`
    /// (`--max-connections`); nil: as many as the fd limit allows.
    public var maxConnections: Int?
    /// Open connections one peer address may hold before its new ones get
    /// `429 too_many_connections` (`--max-connections-per-ip`); nil: no such limit.
    public var maxConnectionsPerIP: Int?

    /// Origins whose pages may call the API cross-origin (`--allow-origin`; `*` for any).
    public var allowedOrigins: [String] = []
    /// With a token, changes need `Authorization: Bearer TOKEN` (`--publish-token`); with
    /// access control on, it acts as an admin token.
    public var publishToken: String?
    /// Access control (`--auth-secret-file`): every /api, /ws and /metrics request needs a token.
    public var tokenVerifier: TokenVerifier?

    /// One line per HTTP request and per WebSocket session on stderr (`--access-log`, on by
    /// default in `herald serve`, written at log level info). Off here: a library default.
    public var accessLog = false
    /// How those lines are written (`--log-format`).
    public var logFormat = LogFormat.text

    public init() {}

    var crossOrigin: CrossOriginPolicy { CrossOriginPolicy(allowedOrigins: allowedOrigins) }
    var accessControl: AccessControl { AccessControl(verifier: tokenVerifier, publishToken: publishToken.map { Array($0.utf8) }) }

    var parserLimits: HTTPParserLimits {
        var limits = HTTPParserLimits.default
        limits.maxBodyBytes = maxBodyBytes
        return limits
    }
}

public enum HeraldVersion {
    public static let string = "0.1.0"
}
