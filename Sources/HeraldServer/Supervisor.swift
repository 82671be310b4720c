import Glibc
import HeraldLoop
import Logging

/// `herald serve --workers N`: serves no HTTP itself. It holds the port, starts a `herald broker`
/// unless one already runs on the socket, starts N `herald worker` processes that share the port
/// through SO_REUSEPORT, restarts whichever dies (backoff per slot), and on SIGTERM stops the
/// workers, then its broker, and exits 0. Everything runs on one event loop on the main thread:
/// SIGCHLD arrives through the same signalfd as SIGTERM, readiness through one pipe per worker.
public final class Supervisor {
    private enum Phase {
        case startingBroker, startingWorkers, running, stopping
    }

    private let configuration: SupervisorConfiguration
    private let logger: Logger
    private let loop: EventLoop
    private let socket: SupervisorBrokerSocket
    private var port: SupervisorPort?
    private var signals: SignalWatcher?
    private var roster: SupervisorRoster
    private var readiness: [pid_t: ChildProcessReadiness] = [:]
    private var phase = Phase.startingBroker
    /// Another process's broker holds the socket's lock: we use it and watch for it to go away.
    private var brokerIsExternal = false
    private var brokerSignalled = false
    private var onListening: ((String) -> Void)?
    /// Why start-up failed; reported (exit 1) once everything started so far is stopped.
    private var failure: String?
    private let supervisorPID = getpid()

    /// How often the broker socket is tried while waiting for it to accept.
    static let brokerProbeInterval = 0.05
    /// A SIGCHLD can be lost if a thread that does not block it takes it (the runtime may start
    /// threads we do not control); a slow sweep bounds what such a loss costs.
    static let reapSweepInterval = 1.0

    public init(configuration: SupervisorConfiguration, logger: Logger) throws(ServerStartupError) {
        precondition((1...SupervisorConfiguration.maxWorkers).contains(configuration.workers))
        self.configuration = configuration
        self.logger = logger
        roster = SupervisorRoster(workers: configuration.workers)
        do {
            loop = try EventLoop()
        } catch {
            throw ServerStartupError(description: "cannot create the event loop: \(error)")
        }
        // With a shared store no broker runs; the (abstract, never bound) name is only a placeholder.
        socket = try SupervisorBrokerSocket(brokerPath: configuration.brokerPath,
                                            dataDirectory: configuration.sharedStore == nil ? configuration.dataDirectory : ":memory:")
    }

    /// Runs until SIGTERM/SIGINT has stopped every child (then returns) or start-up failed
    /// (then throws, after stopping what had started). `onListening` gets the URL once every
    /// worker is listening.
    public func run(onListening: @escaping (String) -> Void) throws(ServerStartupError) {
        self.onListening = onListening
        signal(SIGPIPE, SIG_IGN)
        do {
            // Before any child exists, so no SIGCHLD can be lost.
            // SIGHUP only with TLS (a certificate reload); otherwise it keeps its default action, as in a single process.
            let watched = configuration.tls ? [SIGTERM, SIGINT, SIGCHLD, SIGHUP] : [SIGTERM, SIGINT, SIGCHLD]
            signals = try SignalWatcher(loop: loop, signals: watched) { [unowned self] signo in
                if signo == SIGCHLD {
                    reap()
                } else if signo == SIGHUP {
                    // Each worker reloads its own TLS context; the broker has nothing to reload.
                    logger.info("SIGHUP: passed on to \(roster.liveWorkerPIDs.count) workers")
                    for pid in roster.liveWorkerPIDs { ChildProcess.signal(pid, SIGHUP) }
                } else {
                    stop(because: "received signal \(signo)")
                }
            }
        } catch {
            throw ServerStartupError(description: "cannot watch signals: \(error)")
        }
        do {
            port = try SupervisorPort(host: configuration.host, port: configuration.port)
        } catch {
            let reason = error.description.hasPrefix("bind: ") ? String(error.description.dropFirst(6)) : error.description
            throw ServerStartupError(description: "cannot listen on \(configuration.host):\(configuration.port): \(reason)")
        }
        defer { port?.close() }
        if configuration.sharedStore == nil {
            var lockIsFree = true  // an abstract name: ours alone
            if !socket.isAbstract { lockIsFree = try brokerLockIsFree() }
            if lockIsFree {
                spawnBroker()
            } else {
                useExternalBroker()
            }
        }
        try runLoop()
    }

    /// Whether no broker holds the socket's lock. Taken and released at once (the FileLock goes
    /// with the expression): ours takes it. An abstract name (`:memory:`) has no lock: it is our
    /// own fresh name, shared with nobody.
    private func brokerLockIsFree() throws(ServerStartupError) -> Bool {
        do {
            return try FileLock.tryLock(path: socket.path + ".lock") != nil
        } catch {
            throw ServerStartupError(description: "cannot lock \(socket.path).lock: \(error)")
        }
    }

    private func runLoop() throws(ServerStartupError) {
        if configuration.sharedStore != nil {
            startWorkers()
        } else {
            awaitBroker(until: MonotonicClock.now() + UInt64(configuration.brokerStartTimeout * 1e9))
        }
        scheduleReapSweep()
        do {
            try loop.run()
        } catch {
            throw ServerStartupError(description: "event loop failed: \(error)")
        }
        if let failure { throw ServerStartupError(description: failure) }
    }

    private var now: Double { Double(MonotonicClock.now()) / 1e9 }

    private var url: String {
        let host = configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
        return "\(configuration.tls ? "https" : "http")://\(host):\(port?.port ?? configuration.port)"
    }

    /// For a child of ours (a worker, our broker) at start: SIGTERM when the supervisor dies,
    /// and false when it already has. See `ChildProcess.bindLifetime`.
    public static func bindChildLifetime(toSupervisor supervisor: pid_t) -> Bool {
        ChildProcess.bindLifetime(toSupervisor: supervisor)
    }

    // MARK: The broker

    private func spawnBroker() {
        guard phase != .stopping else { return }
        let arguments = configuration.brokerArguments(
            BrokerLaunch(socketPath: socket.path, dataDirectory: socket.dataDirectory, supervisorPID: supervisorPID))
        do {
            let pid = try ChildProcess.spawn(arguments: arguments)
            roster.started(.broker, pid: pid, at: now)
            brokerIsExternal = false
            logger.info("started broker (pid \(pid)) on \(socket.path)")
        } catch {
            brokerFailed(pid: nil, what: "could not be started: \(error)", ranFor: 0)
        }
    }

    private func useExternalBroker() {
        brokerIsExternal = true
        let holder = FileLock.holderPID(path: socket.path + ".lock").map { " (pid \($0))" } ?? ""
        logger.info("using the broker already running on \(socket.path)\(holder)")
        watchExternalBroker()
    }

    /// While another process's broker holds the lock we only watch; once it is free, ours starts.
    private func watchExternalBroker() {
        loop.scheduleTimer(afterSeconds: configuration.externalBrokerCheckInterval) { [weak self] in
            guard let self, self.phase != .stopping, self.brokerIsExternal else { return }
            guard self.brokerLockIsHeld == false else { return self.watchExternalBroker() }
            self.logger.warning("the broker on \(self.socket.path) is gone; starting ours")
            self.spawnBroker()
        }
    }

    /// Whether a broker holds the socket's lock (nil: the lock file cannot be opened). Taking a
    /// free lock to find out releases it at once, so a broker starting just then may lose its
    /// race with us: it exits 1 and its supervisor looks again.
    private var brokerLockIsHeld: Bool? {
        if socket.isAbstract { return false }  // no lock: nobody else's broker can be there
        do {
            return try FileLock.tryLock(path: socket.path + ".lock") == nil
        } catch {
            logger.error("cannot check \(socket.path).lock: \(error)")
            return nil
        }
    }

    private func startWorkers() {
        phase = .startingWorkers
        for role in roster.workerRoles { spawnWorker(role) }
        loop.scheduleTimer(afterSeconds: configuration.workerStartTimeout) { [weak self] in self?.workersTooSlow() }
    }

    /// Tries the socket until it accepts, then starts the workers.
    private func awaitBroker(until deadline: UInt64) {
        guard phase == .startingBroker else { return }
        if let probe = try? UnixSocket.connect(path: socket.path, on: loop) {
            probe.close()
            startWorkers()
            return
        }
        guard MonotonicClock.now() < deadline else {
            return fail("the broker did not accept connections on \(socket.path) within \(SupervisorRoster.seconds(configuration.brokerStartTimeout)) s")
        }
        loop.scheduleTimer(afterSeconds: Self.brokerProbeInterval) { [weak self] in self?.awaitBroker(until: deadline) }
    }

    private func brokerEnded(pid: pid_t, exit: ChildExit, ranFor: Double) {
        if phase == .stopping {
            logger.info("broker (pid \(pid)) \(exit)")
            return checkStopped()
        }
        // Lost a start race to another supervisor's broker (which exits 1 for us), or ours
        // died and someone else's took over in between: either way, that one is used now.
        if brokerLockIsHeld == true {
            logger.warning("broker (pid \(pid)) \(exit); another broker holds \(socket.path).lock, using it")
            useExternalBroker()
            return
        }
        brokerFailed(pid: pid, what: exit.description, ranFor: ranFor)
    }

    private func brokerFailed(pid: pid_t?, what: String, ranFor: Double) {
        guard phase != .startingBroker else {
            return fail("\(SupervisorRoster.name(.broker, pid: pid)) \(what) before accepting connections on \(socket.path)")
        }
        let delay = roster.scheduleRestart(.broker, ranFor: ranFor)
        logger.warning("\(SupervisorRoster.restartLine(.broker, pid: pid, cause: what, delay: delay))")
        loop.scheduleTimer(afterSeconds: delay) { [weak self] in self?.spawnBroker() }
    }

    // MARK: Workers

    private func spawnWorker(_ role: SupervisedRole) {
        guard phase != .stopping, case .worker(let index) = role, let port else { return }
        let launch = WorkerLaunch(
            index: index, restarts: roster.restarts(of: role), port: port.port, brokerPath: socket.path,
            readyFD: 3, supervisorPID: supervisorPID)
        var pipe: ChildProcessReadiness?
        do {
            var spawned: pid_t = 0
            let ready = try ChildProcessReadiness(loop: loop) { [weak self] in self?.workerReady(pid: spawned) }
            pipe = ready
            spawned = try ChildProcess.spawn(arguments: configuration.workerArguments(launch), passing: [launch.readyFD: ready.writeFD])
            ready.childStarted()
            readiness[spawned] = ready
            roster.started(role, pid: spawned, at: now)
        } catch {
            pipe?.close()
            workerFailed(role, pid: nil, what: "could not be started: \(error)", wasReady: false, ranFor: 0)
        }
    }

    private func workerReady(pid: pid_t) {
        readiness[pid] = nil
        guard let role = roster.markReady(pid: pid) else { return }
        if phase == .startingWorkers {
            guard roster.allWorkersReady else { return }
            phase = .running
            logger.info("\(configuration.workers) workers listening on \(url), \(configuration.sharedStore ?? "broker on \(socket.path)")")
            onListening?(url)
        } else if roster.restarts(of: role) > 0 {
            logger.info("\(role) (pid \(pid)) listening again")
        }
    }

    private func workersTooSlow() {
        guard phase == .startingWorkers else { return }
        let slow = roster.workerRoles.filter { !roster.isReady($0) }
            .map { SupervisorRoster.name($0, pid: roster.pid(of: $0)) }
        fail("\(slow.joined(separator: ", ")) not listening within \(SupervisorRoster.seconds(configuration.workerStartTimeout)) s")
    }

    private func workerEnded(_ role: SupervisedRole, pid: pid_t, exit: ChildExit, wasReady: Bool, ranFor: Double) {
        readiness.removeValue(forKey: pid)?.close()
        if phase == .stopping {
            logger.info("\(role) (pid \(pid)) \(exit)")
            return checkStopped()
        }
        workerFailed(role, pid: pid, what: exit.description, wasReady: wasReady, ranFor: ranFor)
    }

    private func workerFailed(_ role: SupervisedRole, pid: pid_t?, what: String, wasReady: Bool, ranFor: Double) {
        // At first start a worker that cannot listen is a configuration problem: say so and stop.
        if phase == .startingWorkers && !wasReady {
            return fail("\(SupervisorRoster.name(role, pid: pid)) \(what) before listening")
        }
        let delay = roster.scheduleRestart(role, ranFor: ranFor)
        logger.warning("\(SupervisorRoster.restartLine(role, pid: pid, cause: what, delay: delay))")
        loop.scheduleTimer(afterSeconds: delay) { [weak self] in self?.spawnWorker(role) }
    }

    // MARK: Reaping

    private func reap() {
        let at = now
        for (pid, exit) in ChildProcess.reapExited() {
            guard let ending = roster.ended(pid: pid, at: at) else { continue }
            switch ending.role {
            case .broker: brokerEnded(pid: pid, exit: exit, ranFor: ending.ranFor)
            case .worker: workerEnded(ending.role, pid: pid, exit: exit, wasReady: ending.wasReady, ranFor: ending.ranFor)
            }
        }
    }

    private func scheduleReapSweep() {
        loop.scheduleTimer(afterSeconds: Self.reapSweepInterval) { [weak self] in
            self?.reap()
            self?.scheduleReapSweep()
        }
    }

    // MARK: Stopping

    private func fail(_ reason: String) {
        guard phase != .stopping else { return }
        failure = reason
        stop(because: reason)
    }

    /// No more restarts; SIGTERM every worker, then (once they are gone) our broker, each with
    /// SIGKILL after `stopTimeout`. Again while stopping: nothing more to do.
    private func stop(because reason: String) {
        guard phase != .stopping else {
            logger.info("\(reason); already stopping")
            return
        }
        phase = .stopping
        logger.info("\(reason), stopping \(roster.liveWorkerPIDs.count) workers")
        for pid in roster.liveWorkerPIDs { ChildProcess.signal(pid, SIGTERM) }
        loop.scheduleTimer(afterSeconds: configuration.stopTimeout) { [weak self] in
            guard let self else { return }
            for pid in self.roster.liveWorkerPIDs {
                self.logger.warning("worker (pid \(pid)) still running \(SupervisorRoster.seconds(self.configuration.stopTimeout)) s after SIGTERM; killing it")
                ChildProcess.signal(pid, SIGKILL)
            }
        }
        checkStopped()
    }

    private func checkStopped() {
        guard roster.liveWorkerPIDs.isEmpty else { return }
        if let broker = roster.pid(of: .broker) {
            guard !brokerSignalled else { return }
            brokerSignalled = true
            // SIGTERM lets it record a clean shutdown: the next start continues this epoch.
            ChildProcess.signal(broker, SIGTERM)
            loop.scheduleTimer(afterSeconds: configuration.stopTimeout) { [weak self] in
                guard let self, let pid = self.roster.pid(of: .broker) else { return }
                self.logger.warning("broker (pid \(pid)) still running \(SupervisorRoster.seconds(self.configuration.stopTimeout)) s after SIGTERM; killing it")
                ChildProcess.signal(pid, SIGKILL)
            }
            return
        }
        loop.stop()
    }
}
