import HeraldLoop

/// What every connection of one loop shares: configuration, router, the Date cache, and the
/// live connections (so a graceful shutdown can reach them). Loop thread only.
final class ServerContext {
    let configuration: ServerConfiguration
    let router: Router
    let connectionSettings: HTTPConnectionSettings
    let dates = HTTPDateCache()
    /// permessage-deflate compressors shared by this loop's connections.
    let deflaters = MessageDeflaters()
    /// The open HTTP connections and WebSockets (a graceful shutdown reaches each).
    var httpConnections = Roster<HTTPConnectionHandler>()
    var webSockets = Roster<WebSocketConnection>()
    /// The action array HTTP connections drive their state machine with, reused from read to
    /// read (not one allocation per connection); taken while in use, so a nested drive (a
    /// handler answering another connection) simply starts with an empty one of its own.
    var actionScratch: [HTTPConnectionStateMachine.Action] = []
    /// Nil when access logging is off: connections then build no record at all.
    let accessLog: AccessLog?

    init(configuration: ServerConfiguration, router: Router) {
        self.configuration = configuration
        self.router = router
        connectionSettings = HTTPConnectionSettings(configuration)
        accessLog = configuration.accessLog ? AccessLog(format: configuration.logFormat, process: configuration.processName) : nil
    }

    var openConnectionCount: Int { httpConnections.count + webSockets.count }
}

/// What a `Roster` holds: keeps its own index there (-1 while in none).
protocol RosterMember: AnyObject {
    var rosterIndex: Int32 { get set }
}

/// The open connections of one kind, in no particular order: an array in which each member
/// knows its index, so adding and removing are O(1) without hashing (a dictionary keyed by
/// identity hashed each connection twice) and a connection costs 8 bytes here, not a
/// dictionary entry. Removing moves the last member into the hole.
struct Roster<Member: RosterMember> {
    private(set) var values: [Member] = []

    var count: Int { values.count }

    mutating func insert(_ member: Member) {
        guard member.rosterIndex < 0 else { return }
        member.rosterIndex = Int32(values.count)
        values.append(member)
    }

    /// Nothing happens for a member that is not in this roster (removed already).
    mutating func remove(_ member: Member) {
        let i = Int(member.rosterIndex)
        guard i >= 0, i < values.count, values[i] === member else { return }
        member.rosterIndex = -1
        let last = values.removeLast()
        if i < values.count {
            values[i] = last
            last.rosterIndex = Int32(i)
        }
    }
}
