import Glibc
import HeraldLoop

/// `--max-connections` and `--max-connections-per-ip`, asked by the listener for every socket
/// it accepts. It counts this process's open client connections (HTTP and WebSocket alike,
/// from accept until the fd is closed) in total and per peer address, and turns a socket past
/// either limit away with a ready-made answer: a connection flood then costs a few system
/// calls per socket and no memory, and the connections already open are not touched.
/// Loop thread only.
final class ConnectionAdmission: ConnectionGate {
    /// nil: no limit of that kind.
    let maxConnections: Int?
    let maxConnectionsPerIP: Int?
    private(set) var openConnections = 0
    /// Open connections per peer address, only while the per-IP limit is on; an address leaves
    /// the table with its last connection, so the table is as large as the set of peers now
    /// connected, never the set of peers ever seen.
    private var perPeer: [PeerAddress: Int] = [:]
    private(set) var refusedServerBusy: UInt64 = 0
    private(set) var refusedTooManyConnections: UInt64 = 0
    private var responses: EncodedRefusals
    private let clock: () -> Int

    init(maxConnections: Int?, maxConnectionsPerIP: Int?, serverName: String, clock: @escaping () -> Int = { Int(time(nil)) }) {
        self.maxConnections = maxConnections
        self.maxConnectionsPerIP = maxConnectionsPerIP
        responses = EncodedRefusals(server: serverName)
        self.clock = clock
    }

    /// nil when the configuration sets neither limit: then the listener has no gate to ask.
    convenience init?(configuration: ServerConfiguration) {
        guard configuration.maxConnections != nil || configuration.maxConnectionsPerIP != nil else { return nil }
        self.init(
            maxConnections: configuration.maxConnections, maxConnectionsPerIP: configuration.maxConnectionsPerIP,
            serverName: configuration.serverName)
    }

    /// The whole-server limit is checked first: it needs no table lookup, and when the server
    /// is full that is the reason, whoever asks.
    func admit(_ peer: PeerAddress) -> AdmissionDecision {
        if let maxConnections, openConnections >= maxConnections { return refuse(.serverBusy) }
        if let maxConnectionsPerIP {
            let count = perPeer[peer, default: 0]
            if count >= maxConnectionsPerIP { return refuse(.tooManyConnections) }
            perPeer[peer] = count + 1
        }
        openConnections += 1
        return .admit
    }

    func release(_ peer: PeerAddress) {
        openConnections -= 1
        guard maxConnectionsPerIP != nil, let count = perPeer[peer] else { return }
        if count > 1 {
            perPeer[peer] = count - 1
        } else {
            perPeer.removeValue(forKey: peer)
        }
    }

    /// Open connections from `peer` (counted only while the per-IP limit is on).
    func openConnections(from peer: PeerAddress) -> Int { perPeer[peer, default: 0] }
    /// Addresses with at least one open connection.
    var peersTracked: Int { perPeer.count }

    private func refuse(_ refusal: ConnectionRefusal) -> AdmissionDecision {
        switch refusal {
        case .serverBusy: refusedServerBusy += 1
        case .tooManyConnections: refusedTooManyConnections += 1
        }
        return .refuse(responses.bytes(refusal, now: clock()))
    }
}
