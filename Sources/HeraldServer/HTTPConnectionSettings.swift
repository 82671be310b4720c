import HeraldWire

/// What an HTTP connection reads of the server's configuration, made once per loop and shared
/// by reference. Each connection used to copy the whole `ServerConfiguration` and build its
/// cross-origin policy and parser limits again: ~1.2k instructions of every handshake (S4,
/// callgrind), for values that never change while the server runs.
final class HTTPConnectionSettings: Sendable {
    let crossOrigin: CrossOriginPolicy
    let parserLimits: HTTPParserLimits
    let idleTimeout: Double
    let headerTimeout: Double
    let bodyTimeout: Double
    let serverName: String
    let accessLog: Bool
    let deflate: Bool

    init(_ configuration: ServerConfiguration) {
        crossOrigin = configuration.crossOrigin
        parserLimits = configuration.parserLimits
        idleTimeout = configuration.idleTimeout
        headerTimeout = configuration.headerTimeout
        bodyTimeout = configuration.bodyTimeout
        serverName = configuration.serverName
        accessLog = configuration.accessLog
        deflate = configuration.deflate
    }
}
