import HeraldWire

/// Why `ConnectionAdmission` turned a socket away, and the complete HTTP/1.1 answer it gets.
enum ConnectionRefusal {
    /// `--max-connections`: this process holds as many client connections as it may.
    case serverBusy
    /// `--max-connections-per-ip`: the peer's address holds as many as one address may.
    case tooManyConnections

    var status: Int { self == .serverBusy ? 503 : 429 }
    var code: String { self == .serverBusy ? "server_busy" : "too_many_connections" }
    var message: String {
        switch self {
        case .serverBusy: "the server is at its connection limit; try again later"
        case .tooManyConnections: "too many open connections from your address; close one and try again"
        }
    }

    /// The whole response: status line, `Date`, `Server`, `Content-Type`, `Content-Length`,
    /// `Connection: close` and the JSON error body. Nothing follows it on the socket, so the
    /// client reads it as it reads any other error of ours.
    func encoded(date: String, server: String) -> [UInt8] {
        let actions = ResponseSerializer.serialize(
            .error(status: status, code: code, message: message), method: "GET", version: .http1_1,
            keepAlive: false, date: date, server: server)
        guard actions.count == 1, case .write(let bytes) = actions[0] else {
            preconditionFailure("an error response in memory serializes to one write")
        }
        return bytes
    }
}

/// The refusals encoded once per second of `Date` (RFC 9110 §6.6.1 wants one on a 429, and
/// docs/protocol.md promises it on every response): a flood of refused sockets then costs no
/// allocation per socket, only one re-encoding a second.
struct EncodedRefusals {
    private let server: String
    private var second = Int.min
    private var serverBusy: [UInt8] = []
    private var tooManyConnections: [UInt8] = []

    init(server: String) {
        self.server = server
    }

    mutating func bytes(_ refusal: ConnectionRefusal, now second: Int) -> [UInt8] {
        if second != self.second {
            self.second = second
            let date = HTTPDate.format(secondsSince1970: second)
            serverBusy = ConnectionRefusal.serverBusy.encoded(date: date, server: server)
            tooManyConnections = ConnectionRefusal.tooManyConnections.encoded(date: date, server: server)
        }
        return refusal == .serverBusy ? serverBusy : tooManyConnections
    }
}
