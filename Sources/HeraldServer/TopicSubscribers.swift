/// One topic's subscribers. `normal` ones get each frame queued as it comes; `conflating` ones
/// are far behind and get the topic's progress only through `table`, when they next need a
/// frame in order or when their queue drains: fan-out of a progress event walks the normal
/// ones and updates the table once.
final class TopicSubscribers {
    var normal = SubscriberMap()
    var conflating: [ObjectIdentifier: ConflatingSubscriber] = [:]
    /// Kept only while some subscriber is conflating.
    var table = ConflationTable()

    var isEmpty: Bool { normal.isEmpty && conflating.isEmpty }

    subscript(id: ObjectIdentifier) -> WebSocketConnection? { normal[id] ?? conflating[id]?.socket }

    var sockets: [WebSocketConnection] { Array(normal.values) + conflating.values.map(\.socket) }
}

/// A subscriber whose progress of one topic is held back; it has taken the topic's table up to
/// version `mark`.
final class ConflatingSubscriber {
    let socket: WebSocketConnection
    var mark: UInt64

    init(socket: WebSocketConnection, mark: UInt64) {
        self.socket = socket
        self.mark = mark
    }
}
