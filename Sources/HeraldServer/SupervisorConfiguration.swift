import Glibc

/// What a supervisor passes to one worker it starts; the CLI turns it into the worker's argv.
public struct WorkerLaunch: Sendable {
    /// 1-based slot.
    public let index: Int
    /// How many times this slot was restarted before this start.
    public let restarts: Int
    /// The port the supervisor holds (the real one with --port 0).
    public let port: Int
    /// The broker socket the worker joins.
    public let brokerPath: String
    /// The fd number, in the child, of the readiness pipe.
    public let readyFD: Int32
    public let supervisorPID: pid_t
}

/// What a supervisor passes to the broker it starts.
public struct BrokerLaunch: Sendable {
    public let socketPath: String
    /// `--data` for the broker: the supervisor's, or `:memory:`.
    public let dataDirectory: String
    public let supervisorPID: pid_t
}

/// Everything `herald serve --workers N` is told. The argv of its children comes from the CLI
/// (`workerArguments`, `brokerArguments`), which alone knows the flags; argv[0] first.
public struct SupervisorConfiguration: Sendable {
    /// Most workers: far more than cores on any machine we run on, and every worker holds a
    /// broker connection and a copy of the static file cache.
    public static let maxWorkers = 64

    public var workers: Int
    public var host: String
    public var port: Int
    /// `--broker`: a socket to use (or to start a broker on). nil: `<data>/broker.sock`.
    public var brokerPath: String?
    /// `--data`; `:memory:` with no --broker puts the socket at a private abstract name (no file).
    public var dataDirectory: String
    public var workerArguments: @Sendable (WorkerLaunch) -> [String]
    public var brokerArguments: @Sendable (BrokerLaunch) -> [String]
    /// The broker must accept connections within this long before workers start (a large
    /// database restores in a few seconds; see docs/architecture.md).
    public var brokerStartTimeout = 30.0
    /// Every worker must be listening within this long of the broker accepting, or start-up
    /// fails: a worker that hangs must not leave the supervisor waiting, silent, for ever.
    public var workerStartTimeout = 30.0
    /// Workers, and then the broker, get this long after SIGTERM before SIGKILL: twice a
    /// server's own 5 s drain, so a graceful stop is never cut short.
    public var stopTimeout = 10.0
    /// Where the workers keep the tasks when it is not our broker (`--redis`: "Redis at URL"):
    /// then no broker is started, and the workers start at once.
    public var sharedStore: String?
    /// Workers speak TLS (`--tls-cert`): the URL reads https, and SIGHUP is passed on to them.
    public var tls = false
    /// How often an external broker's lock is checked, to start ours when it is gone.
    public var externalBrokerCheckInterval = 1.0

    public init(
        workers: Int, host: String, port: Int, brokerPath: String?, dataDirectory: String,
        workerArguments: @escaping @Sendable (WorkerLaunch) -> [String],
        brokerArguments: @escaping @Sendable (BrokerLaunch) -> [String],
        sharedStore: String? = nil
    ) {
        self.sharedStore = sharedStore
        self.workers = workers
        self.host = host
        self.port = port
        self.brokerPath = brokerPath
        self.dataDirectory = dataDirectory
        self.workerArguments = workerArguments
        self.brokerArguments = brokerArguments
    }
}
