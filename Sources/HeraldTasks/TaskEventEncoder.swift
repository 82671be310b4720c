import HeraldWire

/// Encodes an event once: the part after the topic (`,"seq":…}`) is shared by every topic the
/// event belongs to, and only the short `{"type":…,"topic":"…"` prefix differs per topic.
public enum TaskEventEncoder {
    /// `,"seq":N,"event":"E","task":{…}}`
    static func taskBody(seq: UInt64, event: TaskEventName, taskJSON: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(taskJSON.count + 48)
        out.append(contentsOf: #","seq":"#.utf8)
        out.append(contentsOf: String(seq).utf8)
        out.append(contentsOf: #","event":""#.utf8)
        out.append(contentsOf: event.rawValue.utf8)
        out.append(contentsOf: #"","task":"#.utf8)
        out.append(contentsOf: taskJSON)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// `,"seq":N,"id":"…"}`
    static func removedBody(seq: UInt64, id: String) -> [UInt8] {
        var out = Array(#","seq":"#.utf8)
        out.append(contentsOf: String(seq).utf8)
        out.append(contentsOf: #","id":"#.utf8)
        JSONWriter.writeString(id, into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    static func message(kind: HistoryEntry.Kind, topic: TaskTopic, body: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count + 48)
        out.append(contentsOf: kind == .removed ? #"{"type":"removed","topic":"#.utf8 : #"{"type":"task","topic":"#.utf8)
        JSONWriter.writeString(topic.description, into: &out)
        out.append(contentsOf: body)
        return out
    }

    static func resumed(topic: TaskTopic, epoch: String, since: UInt64) -> [UInt8] {
        var out = Array(#"{"type":"resumed","topic":"#.utf8)
        JSONWriter.writeString(topic.description, into: &out)
        out.append(contentsOf: #","epoch":"#.utf8)
        JSONWriter.writeString(epoch, into: &out)
        out.append(contentsOf: #","since":"#.utf8)
        out.append(contentsOf: String(since).utf8)
        out.append(UInt8(ascii: "}"))
        return out
    }
}

/// One event as kept for resume: the shared body and which topics it belongs to.
struct HistoryEntry: Sendable {
    enum Kind: Sendable { case task, removed }
    let seq: UInt64
    let kind: Kind
    let taskID: String
    let owner: String?
    let isProgress: Bool
    let body: [UInt8]

    func belongs(to topic: TaskTopic) -> Bool {
        switch topic {
        case .all: return true
        case .task(let id): return id == taskID
        case .owner(let name): return owner == name
        }
    }

    var topics: [TaskTopic] {
        var topics: [TaskTopic] = [.all, .task(taskID)]
        if let owner { topics.append(.owner(owner)) }
        return topics
    }
}

/// An event on its way to the loops: one JSON text per topic, ready to frame.
public struct PublishedEvent: Sendable {
    public let seq: UInt64
    public let taskID: String
    /// Progress events may be conflated for a slow subscriber; lifecycle events never.
    public let isProgress: Bool
    /// The task's JSON after the change (nil for `removed`), for long-polls waiting on it.
    public let taskJSON: [UInt8]?
    public let messages: [(topic: String, json: [UInt8])]
}

/// Where the actor sends each batch of events: one call per batch, which the server turns into
/// one `loop.execute` per loop.
public protocol TaskEventSink: AnyObject, Sendable {
    func publish(_ events: [PublishedEvent])
}

/// What a batch produces for the loop that sent it: events, with each reply at its place.
public enum HubOutput: Sendable {
    case event(PublishedEvent)
    case reply(index: Int, TaskReply)
}
