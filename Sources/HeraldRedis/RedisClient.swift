import HeraldLoop

/// One connection to Redis, on one event loop (every call on the loop's thread). Commands are
/// pipelined — written as they come and flushed once per loop turn with the loop's other
/// output — and their replies arrive in order. Every command has a deadline (`timeout`): a
/// connection with a reply overdue is dropped (Redis paused, a stalled network) and made again
/// with full-jitter backoff; commands made while it is down wait for it until their own
/// deadline. After each connect the client authenticates, selects the database and PINGs;
/// `-LOADING` (Redis reading its AOF after a restart) is waited out, not reported.
public final class RedisClient: ConnectionDelegate, @unchecked Sendable {
    // @unchecked: every member is used on `loop`'s thread only; other threads hand the client
    // to the loop (`loop.execute`) and never touch it themselves.
    public struct Configuration: Sendable {
        public var endpoint: RedisEndpoint
        /// Seconds a command may wait for its reply (or for Redis to be reachable).
        public var timeout: Double
        /// `CLIENT SETNAME` (shows in `CLIENT LIST`, e.g. herald-tail-1234).
        public var name: String
        public var minBackoff: Double = 0.05
        public var maxBackoff: Double = 2

        public init(endpoint: RedisEndpoint, timeout: Double = 3, name: String = "herald") {
            self.endpoint = endpoint
            self.timeout = timeout
            self.name = name
        }
    }

    public typealias Completion = (Result<RedisValue, RedisError>) -> Void

    public let configuration: Configuration
    public let loop: EventLoop
    /// Connects, reconnects and anything odd (never a command's arguments).
    public var onLog: (String) -> Void = { _ in }
    /// Connects (the expected news, for an info line).
    public var onInfo: (String) -> Void = { _ in }
    /// Loaded on every connect, before the connection counts as ready (see `RedisScript`).
    public var scripts: [RedisScript] = []
    /// Called each time the connection is ready (after AUTH/SELECT/PING), before queued commands go.
    public var onReady: () -> Void = {}
    /// Called when a ready connection is lost, with why.
    public var onDown: (String) -> Void = { _ in }

    private enum State { case idle, connecting, ready, stopped }
    private struct Pending {
        let completion: Completion
        let deadline: UInt64
        /// Part of the connect handshake, not a caller's command.
        let isHandshake: Bool
    }

    private var state = State.idle
    private var connection: Connection?
    private var reader = RedisReplyReader()
    /// Written, in order, waiting for their replies.
    private var inFlight: [Pending] = []
    private var inFlightHead = 0
    /// Made while not ready: sent once the connection is.
    private var waiting: [(command: RedisCommand, pending: Pending)] = []
    private var connectStartedAt: UInt64 = 0
    private var attempts = 0
    private var lastProblem = "not connected yet"
    /// Why the current connection is being dropped (the error its in-flight commands get).
    private var dropping: RedisError?
    private var watchdog: TimerID?
    private var reconnectTimer: TimerID?
    public private(set) var connects: UInt64 = 0

    public init(configuration: Configuration, loop: EventLoop) {
        self.configuration = configuration
        self.loop = loop
    }

    public var isReady: Bool { state == .ready }

    /// Starts connecting (commands may be sent before: they wait).
    public func start() {
        guard state == .idle else { return }
        connect()
    }

    /// Closes the connection; every pending command fails with `unavailable`.
    public func stop() {
        state = .stopped
        if let reconnectTimer { loop.cancelTimer(reconnectTimer) }
        if let watchdog { loop.cancelTimer(watchdog) }
        dropping = .unavailable("the client stopped")
        connection?.close()
        connection = nil
        failInFlight(with: .unavailable("the client stopped"))
        failWaiting(now: nil, with: .unavailable("the client stopped"))
    }

    /// Sends `command`; `completion` runs on the loop with its reply, an error reply as
    /// `.server`.
    public func send(_ command: RedisCommand, completion: @escaping Completion) {
        let pending = Pending(completion: completion, deadline: deadline(), isHandshake: false)
        switch state {
        case .ready: write(command, pending)
        case .stopped: completion(.failure(.unavailable("the client stopped")))
        case .idle, .connecting:
            waiting.append((command, pending))
            armWatchdog()
        }
    }

    // MARK: Connecting

    private func connect() {
        state = .connecting
        reader = RedisReplyReader()
        connectStartedAt = MonotonicClock.now()
        dropping = nil
        let endpoint = configuration.endpoint
        do {
            let connection = try TCPSocket.connect(host: endpoint.host, port: endpoint.port, on: loop)
            connection.delegate = self
            self.connection = connection
        } catch {
            lastProblem = "\(error)"
            scheduleReconnect()
            return
        }
        armWatchdog()
        var handshake: [RedisCommand] = []
        if let password = endpoint.password {
            handshake.append(endpoint.user.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password))
        }
        if endpoint.database != 0 { handshake.append(RedisCommand("SELECT", String(endpoint.database))) }
        handshake.append(RedisCommand("CLIENT", "SETNAME", configuration.name))
        for script in scripts { handshake.append(RedisCommand("SCRIPT", "LOAD", script.source)) }
        for command in handshake {
            let name = command.name
            write(command, Pending(completion: { [weak self] result in self?.handshakeStep(name, result) }, deadline: deadline(), isHandshake: true))
        }
        ping()
    }

    private func ping() {
        write(RedisCommand("PING"), Pending(completion: { [weak self] result in self?.pinged(result) }, deadline: deadline(), isHandshake: true))
    }

    private func handshakeStep(_ name: String, _ result: Result<RedisValue, RedisError>) {
        guard case .failure(let error) = result, dropping == nil else { return }
        if case .server(let message) = error, message.hasPrefix("LOADING") {
            drop(.unavailable("Redis is loading its data"), retryAfter: 0.1)
        } else {
            // A wrong password or database is the operator's to fix: say so at every attempt.
            onLog("Redis refused \(name) at \(configuration.endpoint): \(error)")
            drop(.unavailable("\(name) refused: \(error)"))
        }
    }

    private func pinged(_ result: Result<RedisValue, RedisError>) {
        guard dropping == nil, state == .connecting else { return }
        switch result {
        case .success:
            state = .ready
            attempts = 0
            connects += 1
            onInfo("connected to Redis at \(configuration.endpoint) (\(configuration.name))")
            onReady()
            // What onReady sent went first; then what waited, in the order it was made.
            let queued = waiting
            waiting.removeAll()
            for (command, pending) in queued { write(command, pending) }
        case .failure(.server(let message)) where message.hasPrefix("LOADING"):
            // Redis is reading its AOF/RDB: keep the connection and ask again shortly.
            loop.scheduleTimer(afterSeconds: 0.1) { [weak self] in
                guard let self, self.state == .connecting, self.dropping == nil, self.connection != nil else { return }
                self.ping()
            }
        case .failure(let error):
            drop(.unavailable("PING failed: \(error)"))
        }
    }

    private func scheduleReconnect(after fixed: Double? = nil) {
        guard state != .stopped else { return }
        state = .idle
        attempts += 1
        // Full jitter (AWS's backoff study): hosts that lost Redis together do not come back in step.
        let cap = min(configuration.maxBackoff, configuration.minBackoff * Double(1 << min(attempts, 16)))
        let delay = fixed ?? Double.random(in: configuration.minBackoff...max(configuration.minBackoff, cap))
        reconnectTimer = loop.scheduleTimer(afterSeconds: delay) { [weak self] in
            guard let self, self.state == .idle else { return }
            self.reconnectTimer = nil
            self.connect()
        }
        armWatchdog()
    }

    // MARK: Commands and replies

    private func write(_ command: RedisCommand, _ pending: Pending) {
        guard let connection else {
            pending.completion(.failure(.unavailable(lastProblem)))
            return
        }
        var bytes: [UInt8] = []
        command.encode(into: &bytes)
        connection.write(bytes)
        inFlight.append(pending)
        armWatchdog()
    }

    public func connection(_ connection: Connection, didRead bytes: UnsafeRawBufferPointer) {
        guard connection === self.connection, dropping == nil else { return }
        do {
            try reader.feed(bytes)
            while dropping == nil, let value = try reader.next() {
                guard inFlightHead < inFlight.count else {
                    onLog("Redis at \(configuration.endpoint) sent a reply nobody asked for; reconnecting")
                    drop(.connectionLost("an unexpected reply"))
                    return
                }
                let pending = inFlight[inFlightHead]
                inFlightHead += 1
                if inFlightHead > 1024 && inFlightHead * 2 > inFlight.count {
                    inFlight.removeFirst(inFlightHead)
                    inFlightHead = 0
                }
                if case .error(let message) = value {
                    if message.hasPrefix("NOSCRIPT") {
                        onLog("Redis at \(configuration.endpoint) lost our scripts (SCRIPT FLUSH?); reconnecting to load them")
                        drop(.connectionLost("NOSCRIPT"))
                    }
                    pending.completion(.failure(.server(message)))
                } else {
                    pending.completion(.success(value))
                }
            }
        } catch {
            onLog("\(error); reconnecting to \(configuration.endpoint)")
            drop(.connectionLost("\(error)"))
        }
    }

    public func connectionDidClose(_ connection: Connection) {
        guard connection === self.connection else { return }
        self.connection = nil
        let wasReady = state == .ready
        let error = dropping ?? (state == .connecting
            ? .unavailable("cannot connect to \(configuration.endpoint) (refused, unreachable or closed at once)")
            : .connectionLost("Redis closed the connection"))
        lastProblem = "\(error)"
        failInFlight(with: error)
        if wasReady { onDown("\(error)") }
        if state != .stopped { scheduleReconnect(after: retryAfter) }
        retryAfter = nil
    }

    private var retryAfter: Double?

    /// Drops the connection: in-flight commands fail with `error`, waiting ones stay.
    private func drop(_ error: RedisError, retryAfter: Double? = nil) {
        guard dropping == nil, let connection else { return }
        dropping = error
        self.retryAfter = retryAfter
        connection.close()
    }

    private func failInFlight(with error: RedisError) {
        let failed = inFlight[inFlightHead...]
        inFlight.removeAll()
        inFlightHead = 0
        for pending in failed where !pending.isHandshake { pending.completion(.failure(error)) }
    }

    private func failWaiting(now: UInt64?, with error: RedisError) {
        guard !waiting.isEmpty else { return }
        var kept: [(command: RedisCommand, pending: Pending)] = []
        var failed: [Pending] = []
        for item in waiting {
            if let now, item.pending.deadline > now { kept.append(item) } else { failed.append(item.pending) }
        }
        waiting = kept
        for pending in failed { pending.completion(.failure(error)) }
    }

    // MARK: Deadlines

    private func deadline() -> UInt64 {
        MonotonicClock.now() &+ UInt64(configuration.timeout * 1e9)
    }

    /// One timer checks every deadline a few times per timeout, while anything is pending.
    private func armWatchdog() {
        guard watchdog == nil, state != .stopped else { return }
        watchdog = loop.scheduleTimer(afterSeconds: max(0.01, configuration.timeout / 8)) { [weak self] in
            guard let self else { return }
            self.watchdog = nil
            self.checkDeadlines()
        }
    }

    private func checkDeadlines() {
        let now = MonotonicClock.now()
        if inFlightHead < inFlight.count, inFlight[inFlightHead].deadline <= now {
            onLog("Redis at \(configuration.endpoint) did not answer within \(configuration.timeout) s; reconnecting")
            drop(.timeout("no reply within \(configuration.timeout) s"))
        } else if state == .connecting, connection != nil, Double(now &- connectStartedAt) / 1e9 > configuration.timeout {
            drop(.unavailable("no connection within \(configuration.timeout) s"))
        }
        failWaiting(now: now, with: .unavailable("Redis at \(configuration.endpoint) unreachable (\(lastProblem))"))
        if inFlightHead < inFlight.count || !waiting.isEmpty || state != .ready { armWatchdog() }
    }
}
