/// Everything the HTTP and WebSocket clients can fail with, each with a message for a person
/// (the CLI prints `herald: <description>`).
public enum ClientError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The URL text and what is wrong with it.
    case invalidURL(String, String)
    /// getaddrinfo could not resolve the host: origin, resolver message.
    case cannotResolve(String, String)
    /// No connection could be made: origin, system message (`Connection refused`).
    case cannotConnect(String, String)
    /// Nothing (or not enough) arrived in time: what we were waiting for.
    case timedOut(String)
    /// A read or write failed on an open connection.
    case io(String)
    /// The server closed the connection before the response or frame was complete.
    case connectionClosed(String)
    /// The response could not be parsed (or broke a limit).
    case badResponse(String)
    /// The WebSocket opening handshake failed (not 101, wrong Sec-WebSocket-Accept, …).
    case handshakeFailed(String)
    /// The server closed the WebSocket: its close code (nil when it sent none) and reason.
    case webSocketClosed(code: UInt16?, reason: String)
    /// The server broke RFC 6455; the client closed with this code.
    case webSocketProtocol(code: UInt16, reason: String)

    public var description: String {
        switch self {
        case .invalidURL(let url, let why): "invalid URL '\(url)': \(why)"
        case .cannotResolve(let origin, let why): "cannot reach \(origin): \(why)"
        case .cannotConnect(let origin, let why): "cannot reach \(origin): \(why)"
        case .timedOut(let what): "timed out \(what)"
        case .io(let why): why
        case .connectionClosed(let what): "connection closed \(what)"
        case .badResponse(let why): "bad response: \(why)"
        case .handshakeFailed(let why): "WebSocket handshake failed: \(why)"
        case .webSocketClosed(let code, let reason):
            code.map { reason.isEmpty ? "WebSocket closed with code \($0)" : "WebSocket closed with code \($0): \(reason)" }
                ?? "WebSocket closed without a close code"
        case .webSocketProtocol(let code, let reason): "WebSocket protocol error (\(code)): \(reason)"
        }
    }
}
