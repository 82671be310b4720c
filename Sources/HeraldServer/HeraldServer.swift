import Dispatch
import Glibc
import HeraldBroker
import HeraldLoop
import HeraldStore
import HeraldTasks
import HeraldWire
import Logging

public struct ServerStartupError: Error, CustomStringConvertible {
    public let description: String
}

/// `herald serve`: one event loop on the calling thread serving static files, /healthz and
/// WebSocket endpoints until SIGTERM/SIGINT, then a graceful drain.
public final class HeraldServer {
    public let configuration: ServerConfiguration
    private let logger: Logger
    private let loop: EventLoop
    private let context: ServerContext
    private var listener: TCPListener?
    private var signals: SignalWatcher?
    private var shuttingDown = false
    /// With --tls-cert: the context new connections get, replaced on SIGHUP.
    private var tlsContext: TLSContext?
    /// Kept across reloads, so tickets issued before a SIGHUP still resume after it.
    private var ticketKeys: TLSTicketKeys?
    private let tlsStatistics: TLSStatistics

    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "herald")) throws(ServerStartupError) {
        self.configuration = configuration
        self.logger = logger
        let staticFiles: StaticFileServer
        if let directory = configuration.publicDirectory {
            do {
                staticFiles = try StaticFileServer(root: directory)
            } catch {
                throw ServerStartupError(description: String(describing: error))
            }
        } else {
            staticFiles = StaticFileServer(embedded: configuration.embeddedPublic)
        }
        do {
            loop = try EventLoop()
        } catch {
            throw ServerStartupError(description: "cannot create the event loop: \(error)")
        }
        let tlsStatistics = TLSStatistics()
        self.tlsStatistics = tlsStatistics
        if configuration.tlsCertificatePath != nil {
            ticketKeys = TLSTicketKeys.inheritedOrRandom()
            do {
                tlsContext = try Self.makeTLSContext(configuration, ticketKeys: ticketKeys!, statistics: tlsStatistics)
            } catch {
                throw ServerStartupError(description: error.description)
            }
        }
        let router = Router(configuration: configuration, staticFiles: staticFiles)
        context = ServerContext(configuration: configuration, router: router)
        router.openConnections = { [unowned context] in context.openConnectionCount }
        let admission = ConnectionAdmission(configuration: configuration)
        self.admission = admission
        let broker: Broker
        if let redis = configuration.redis {
            // Tasks live in Redis; the connections get a loop of their own (as a broker link does).
            let connectionLoop = try Self.startConnectionLoop(name: "herald-redis", for: "the Redis connection")
            let redisLogger = logger
            broker = RedisBroker(
                configuration: .init(endpoint: redis, prefix: configuration.redisPrefix, timeout: configuration.redisTimeout,
                                     tasks: configuration.tasks, sweepInterval: configuration.leaseCheckInterval,
                                     name: configuration.processName),
                loop: connectionLoop, log: { redisLogger.warning("\($0)") }, info: { redisLogger.info("\($0)") })
            local = nil
        } else if let brokerPath = configuration.brokerPath {
            // Tasks live in `herald broker`; its connection gets a loop of its own, so it can
            // connect (and events can flow) before this server's loop runs.
            let connectionLoop = try Self.startConnectionLoop(name: "herald-broker", for: "the broker connection")
            broker = UnixSocketBroker(path: brokerPath, loop: connectionLoop)
            local = nil
        } else {
            let store: any TaskStore
            do {
                store = try TaskStores.open(directory: configuration.dataDirectory)
            } catch {
                throw ServerStartupError(description: error.description)
            }
            let hub = TaskHub(configuration: configuration.tasks, store: store)
            local = LocalBroker(hub: hub)
            broker = local!
        }
        let bridge = TaskBridge(broker: broker, loop: loop)
        let services = TaskServices(
            bridge: bridge, registry: TopicRegistry(maxQueuedBytes: configuration.maxSubscriberQueueBytes),
            longPolls: LongPollRegistry(loop: loop))
        router.tasks = services
        let acceptPauses = AcceptPauseSource()
        self.acceptPauses = acceptPauses
        router.loopFigures = { [unowned context, unowned router] in
            MetricsEndpoint.LoopFigures(
                connections: context.openConnectionCount, webSockets: context.webSockets.count,
                subscribers: services.registry.subscriberCount, subscriptions: services.registry.subscriptionCount,
                framesDelivered: services.registry.framesDelivered, slowSubscribersClosed: services.registry.slowSubscribersClosed,
                progressConflated: services.registry.progressConflated,
                longPolls: services.longPolls.count, actorBatches: bridge.batchesSent, actorRequests: bridge.requestsSent,
                broker: configuration.brokerPath == nil && configuration.redis == nil ? nil : broker.status, appliedSeq: bridge.appliedSeq,
                processName: configuration.processName, restarts: configuration.restartCount,
                authRefusals: router.refusals.counts,
                refusedServerBusy: admission?.refusedServerBusy ?? 0,
                refusedTooManyConnections: admission?.refusedTooManyConnections ?? 0,
                acceptPauses: acceptPauses.listener?.pauses.total ?? 0,
                tls: configuration.tlsCertificatePath == nil ? nil : tlsStatistics)
        }
        self.services = services
        let local = self.local
        let stored = try Self.readStore(of: local?.hub, configuration)
        let restored = BlockingAwait.run { [local] () async -> Result<RestoreReport?, ServerStartupError> in
            do {
                try await broker.attach(bridge)
            } catch {
                return .failure(ServerStartupError(description: String(describing: error)))
            }
            guard let hub = local?.hub, let stored else { return .success(nil) }
            do {
                return .success(try await hub.restore(stored))
            } catch {
                return .failure(ServerStartupError(description: "cannot load --data \(configuration.dataDirectory): \(error)"))
            }
        }
        restoreReport = try restored.get()
    }

    private var restoreReport: RestoreReport?

    /// A loop on a thread of its own for the link to the tasks (the broker, Redis).
    /// The store read on the calling (main) thread, so that a restart's allocations come from
    /// the main arena (`TaskHub.readStore`); the hub puts the tasks in place when it restores.
    static func readStore(of hub: TaskHub?, _ configuration: ServerConfiguration) throws(ServerStartupError) -> StoredTasks? {
        do {
            return try hub?.readStore()
        } catch {
            throw ServerStartupError(description: "cannot load --data \(configuration.dataDirectory): \(error)")
        }
    }

    private static func startConnectionLoop(name: String, for what: String) throws(ServerStartupError) -> EventLoop {
        let loop: EventLoop
        do {
            loop = try EventLoop()
        } catch {
            throw ServerStartupError(description: "cannot create the loop for \(what): \(error)")
        }
        // Threads inherit the signal mask: block SIGTERM/SIGINT before this one starts, or it
        // could take the signal (default action: die) instead of our signalfd.
        SignalWatcher.block([SIGTERM, SIGINT])
        EventLoopThread.start(loop, name: name)
        return loop
    }

    private func logRestore() {
        guard let report = restoreReport else { return }
        logger.info("restored \(report.tasks) tasks at seq \(report.seq), epoch \(report.epoch) (\(report.epochContinued ? "continued" : "new"))\(report.skipped > 0 ? ", \(report.skipped) unreadable rows skipped" : "")")
    }

    /// The task actor when this process owns it (standalone); nil with `--broker`.
    private let local: LocalBroker?
    private let services: TaskServices
    /// `--max-connections`/`--max-connections-per-ip`, asked by the listener; nil without limits.
    private let admission: ConnectionAdmission?


    /// Binds, calls `onListening` with the URL once connections are accepted, and serves on the
    /// calling thread until a graceful shutdown completes.
    public func run(onListening: (String) -> Void) throws(ServerStartupError) {
        // Writes to a closed socket must fail with EPIPE, not kill the process.
        signal(SIGPIPE, SIG_IGN)
        // A file size limit (RLIMIT_FSIZE) reached by the store must be a failed write (EFBIG:
        // changes get 503 until it is lifted), not the end of the process.
        signal(SIGXFSZ, SIG_IGN)
        FileLimit.raiseSoftToHard()
        let context = self.context
        do {
            let watched = tlsContext == nil ? [SIGTERM, SIGINT] : [SIGTERM, SIGINT, SIGHUP]
            signals = try SignalWatcher(loop: loop, signals: watched) { [weak self] signo in
                if signo == SIGHUP {
                    self?.reloadTLS()
                    return
                }
                self?.logger.info("received signal \(signo), shutting down")
                self?.beginShutdown()
            }
            listener = try TCPListener(loop: loop, host: configuration.host, port: configuration.port, reusePort: configuration.reusePort) { connection in
                connection.delegate = HTTPConnectionHandler(connection: connection, context: context)
            }
            listener?.gate = admission
            listener?.tls = tlsContext
            listener?.onPause = { [weak self] error in self?.logAcceptPause(error) }
            acceptPauses.listener = listener
        } catch {
            throw ServerStartupError(description: "cannot listen on \(configuration.host):\(configuration.port): \(error.description.replacingBindPrefix())")
        }
        scheduleLeaseChecks()
        if let tlsContext { logger.info("TLS certificate \(tlsContext.certificatePath): \(tlsContext.certificateSummary)") }
        onListening("\(tlsContext == nil ? "http" : "https")://\(displayHost):\(listener!.port)")
        logRestore()
        do {
            try loop.run()
        } catch {
            throw ServerStartupError(description: "event loop failed: \(error)")
        }
        // Mark the clean stop, so the next start continues this epoch and history.
        guard let hub = local?.hub else { return }
        let stopped = BlockingAwait.run { [hub] () async -> String? in
            do {
                try await hub.shutdown()
                return nil
            } catch {
                return String(describing: error)
            }
        }
        if let stopped { logger.error("could not record the clean shutdown: \(stopped)") }
    }

    /// The TLS context of `configuration`; the handshake counts against --header-timeout.
    public static func makeTLSContext(
        _ configuration: ServerConfiguration, ticketKeys: TLSTicketKeys, statistics: TLSStatistics = TLSStatistics()
    ) throws(TLSError) -> TLSContext {
        try TLSContext(
            certificatePath: configuration.tlsCertificatePath ?? "", keyPath: configuration.tlsKeyPath ?? "",
            ticketKeys: ticketKeys, handshakeTimeout: configuration.headerTimeout, statistics: statistics)
    }

    /// SIGHUP: a new context from the files as they are now, for new connections; open ones keep
    /// theirs (each SSL holds a reference to its context). A bad certificate or key is logged
    /// and the old context stays.
    private func reloadTLS() {
        guard let ticketKeys, tlsContext != nil else { return }
        do {
            let fresh = try Self.makeTLSContext(configuration, ticketKeys: ticketKeys, statistics: tlsStatistics)
            tlsContext = fresh
            listener?.tls = fresh
            logger.info("SIGHUP: reloaded TLS certificate \(fresh.certificatePath): \(fresh.certificateSummary)")
        } catch {
            logger.error("SIGHUP: kept the previous TLS certificate: \(error.description)")
        }
    }

    private var lastAcceptPauseLog: UInt64?
    /// Where /metrics reads the listener's pauses (the listener exists only once `run` binds).
    private let acceptPauses: AcceptPauseSource

    /// Out of fds (or memory) at accept: accepting pauses for 100 ms at a time (AcceptLoop) and
    /// says so at most every 10 s, however often the limit is hit.
    private func logAcceptPause(_ error: SystemError) {
        let now = MonotonicClock.now()
        if let last = lastAcceptPauseLog, now &- last < 10_000_000_000 { return }
        lastAcceptPauseLog = now
        let limit = FileLimit.current().map { ", open file limit \($0.soft)" } ?? ""
        logger.warning("accepting paused: \(error)\(limit), \(context.openConnectionCount) connections open; new connections wait in the backlog until fds are free (--max-connections below the limit refuses them with 503 instead)")
    }

    /// Leases and retention are checked a few times a second: one hop to the actor per check.
    private func scheduleLeaseChecks() {
        loop.scheduleTimer(afterSeconds: configuration.leaseCheckInterval) { [weak self] in
            guard let self, !self.shuttingDown, let local = self.local else { return }
            Task { await local.tick() }
            self.scheduleLeaseChecks()
        }
    }

    private var displayHost: String {
        configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
    }

    /// Stops accepting, closes WebSockets with 1001, lets HTTP requests in progress finish,
    /// and stops the loop when every connection is gone or the grace period ends.
    private func beginShutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        listener?.close()
        for socket in context.webSockets.values { socket.close(code: 1001, reason: "server shutting down") }
        for handler in context.httpConnections.values { handler.shutdown() }
        let deadline = MonotonicClock.now() + UInt64(configuration.shutdownGrace * 1e9)
        waitForDrain(until: deadline)
    }

    private func waitForDrain(until deadline: UInt64) {
        if context.openConnectionCount == 0 || MonotonicClock.now() >= deadline {
            loop.stop()
            return
        }
        loop.scheduleTimer(afterSeconds: 0.02) { [weak self] in self?.waitForDrain(until: deadline) }
    }
}

private final class AcceptPauseSource {
    weak var listener: TCPListener?
}

extension String {
    fileprivate func replacingBindPrefix() -> String {
        hasPrefix("bind: ") ? String(dropFirst(6)) : self
    }
}
