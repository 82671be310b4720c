import Dispatch
import Glibc
import HeraldBroker
import HeraldLoop
import HeraldStore
import HeraldTasks
import Logging

/// `herald broker`: the single authority for several server processes. Owns the task actor and
/// its SQLite store, serves them on a Unix socket, ticks leases, and exits 0 on SIGTERM after
/// recording a clean shutdown. Exactly one runs per socket: a `flock` on `PATH.lock` decides.
public final class BrokerProcess {
    private let socketPath: String
    private let logger: Logger
    private let loop: EventLoop
    private let hub: TaskHub
    private let local: LocalBroker
    /// nil on an abstract socket name (`@name`): bind(2) itself refuses a second broker there.
    private let lock: FileLock?
    private var server: BrokerServer?
    private var signals: SignalWatcher?
    private var stopping = false
    public static let leaseCheckInterval = 0.1

    public init(socketPath: String, dataDirectory: String, tasks: TaskHubConfiguration, logger: Logger) throws(ServerStartupError) {
        self.socketPath = socketPath
        self.logger = logger
        lock = try Self.lockSocket(socketPath)
        let store: any TaskStore
        do {
            store = try TaskStores.open(directory: dataDirectory)
        } catch {
            throw ServerStartupError(description: error.description)
        }
        hub = TaskHub(configuration: tasks, store: store)
        local = LocalBroker(hub: hub)
        do {
            loop = try EventLoop()
        } catch {
            throw ServerStartupError(description: "cannot create the event loop: \(error)")
        }
        let stored: StoredTasks
        do {
            stored = try hub.readStore()  // on this thread, as HeraldServer does (TaskHub.readStore)
        } catch {
            throw ServerStartupError(description: "cannot load --data \(dataDirectory): \(error)")
        }
        let report = BlockingAwait.run { [hub] () async -> Result<RestoreReport, ServerStartupError> in
            do { return .success(try await hub.restore(stored)) } catch {
                return .failure(ServerStartupError(description: "cannot load --data \(dataDirectory): \(error)"))
            }
        }
        let restored = try report.get()
        logger.info("broker restored \(restored.tasks) tasks at seq \(restored.seq), epoch \(restored.epoch)")
    }

    /// The lock that makes this the one broker on `socketPath`: `PATH.lock` next to the socket
    /// file; nil on an abstract socket name (`@name`), where bind(2) itself refuses a second one.
    private static func lockSocket(_ socketPath: String) throws(ServerStartupError) -> FileLock? {
        guard !UnixSocket.isAbstract(socketPath) else { return nil }
        do {
            guard let lock = try FileLock.tryLock(path: socketPath + ".lock") else {
                let holder = FileLock.holderPID(path: socketPath + ".lock").map { " (pid \($0))" } ?? ""
                throw ServerStartupError(description: "another broker is already running on \(socketPath)\(holder)")
            }
            return lock
        } catch let error as ServerStartupError {
            throw error
        } catch {
            throw ServerStartupError(description: "cannot lock \(socketPath).lock: \(error)")
        }
    }

    /// Serves until SIGTERM/SIGINT; `onListening` gets the socket path once servers can connect.
    public func run(onListening: (String) -> Void) throws(ServerStartupError) {
        signal(SIGPIPE, SIG_IGN)
        // A file size limit (RLIMIT_FSIZE) reached by the store must be a failed write (EFBIG:
        // changes get 503 until it is lifted), not the end of the process.
        signal(SIGXFSZ, SIG_IGN)
        do {
            signals = try SignalWatcher(loop: loop, signals: [SIGTERM, SIGINT]) { [weak self] _ in self?.stop() }
            server = try BrokerServer(loop: loop, broker: local, path: socketPath)
            server?.onPeerCutOff = { [logger] queued in
                logger.warning("cut off a server process \(queued) bytes behind; it reconnects and resumes from its last seq")
            }
        } catch {
            throw ServerStartupError(description: "cannot listen on \(socketPath): \(error)")
        }
        scheduleTicks()
        onListening(socketPath)
        do {
            try loop.run()
        } catch {
            throw ServerStartupError(description: "event loop failed: \(error)")
        }
        let failure = BlockingAwait.run { [hub] () async -> String? in
            do { try await hub.shutdown(); return nil } catch { return String(describing: error) }
        }
        if let failure { logger.error("could not record the clean shutdown: \(failure)") }
        lock?.unlock()
    }

    private func stop() {
        guard !stopping else { return }
        stopping = true
        server?.close()
        loop.stop()
    }

    private func scheduleTicks() {
        loop.scheduleTimer(afterSeconds: Self.leaseCheckInterval) { [weak self] in
            guard let self, !self.stopping else { return }
            let local = self.local
            Task { await local.tick() }
            self.scheduleTicks()
        }
    }
}

/// Runs async work to completion from synchronous start-up or shutdown code (no loop is
/// running on this thread then, so nothing waits on it).
enum BlockingAwait {
    static func run<T: Sendable>(_ work: @escaping @Sendable () async -> T) -> T {
        let box = AwaitResult<T>()
        let done = DispatchSemaphore(value: 0)
        Task {
            box.value = await work()
            done.signal()
        }
        done.wait()
        return box.value!
    }
}

final class AwaitResult<T>: @unchecked Sendable {
    var value: T?
}
