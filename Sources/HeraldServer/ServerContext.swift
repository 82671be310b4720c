import HeraldLoop

/// What every connection of one loop shares: configuration, router, the Date cache, and the
/// live connections (so a graceful shutdown can reach them). Loop thread only.
final class ServerContext {
    let configuration: ServerConfiguration
    let router: Router
    let dates = HTTPDateCache()
    /// permessage-deflate compressors shared by this loop's connections.
    let deflaters = MessageDeflaters()
    var httpConnections: [ObjectIdentifier: HTTPConnectionHandler] = [:]
    var webSockets: [ObjectIdentifier: WebSocketConnection] = [:]
    /// Nil when access logging is off: connections then build no record at all.
    let accessLog: AccessLog?

    init(configuration: ServerConfiguration, router: Router) {
        self.configuration = configuration
        self.router = router
        accessLog = configuration.accessLog ? AccessLog(format: configuration.logFormat, process: configuration.processName) : nil
    }

    var openConnectionCount: Int { httpConnections.count + webSockets.count }
}
