import Glibc
import HeraldLoop
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

    public init(configuration: ServerConfiguration, logger: Logger = Logger(label: "herald")) throws(ServerStartupError) {
        self.configuration = configuration
        self.logger = logger
        let staticFiles: StaticFileServer
        do {
            staticFiles = try StaticFileServer(root: configuration.publicDirectory)
        } catch {
            throw ServerStartupError(description: String(describing: error))
        }
        do {
            loop = try EventLoop()
        } catch {
            throw ServerStartupError(description: "cannot create the event loop: \(error)")
        }
        let router = Router(configuration: configuration, staticFiles: staticFiles)
        context = ServerContext(configuration: configuration, router: router)
        router.openConnections = { [unowned context] in context.openConnectionCount }
    }

    /// Binds, calls `onListening` with the URL once connections are accepted, and serves on the
    /// calling thread until a graceful shutdown completes.
    public func run(onListening: (String) -> Void) throws(ServerStartupError) {
        // Writes to a closed socket must fail with EPIPE, not kill the process.
        signal(SIGPIPE, SIG_IGN)
        let context = self.context
        do {
            signals = try SignalWatcher(loop: loop, signals: [SIGTERM, SIGINT]) { [weak self] signo in
                self?.logger.info("received signal \(signo), shutting down")
                self?.beginShutdown()
            }
            listener = try TCPListener(loop: loop, host: configuration.host, port: configuration.port) { connection in
                connection.delegate = HTTPConnectionHandler(connection: connection, context: context)
            }
        } catch {
            throw ServerStartupError(description: "cannot listen on \(configuration.host):\(configuration.port): \(error.description.replacingBindPrefix())")
        }
        onListening("http://\(displayHost):\(listener!.port)")
        do {
            try loop.run()
        } catch {
            throw ServerStartupError(description: "event loop failed: \(error)")
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

extension String {
    fileprivate func replacingBindPrefix() -> String {
        hasPrefix("bind: ") ? String(dropFirst(6)) : self
    }
}
