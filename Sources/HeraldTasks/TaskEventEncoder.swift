import HeraldWire

/// Encodes an event once: the part after the topic (`,"seq":…}`) is shared by every topic the
/// event belongs to, and only the short `{"type":…,"topic":"…"` prefix differs per topic.
public enum TaskEventEncoder {
    /// `,"seq":N,"event":"E","task":{…}}`
    static func taskBody(seq: UInt64, event: TaskEventName, taskJSON: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(taskJSON.count + 48)
        // Literal bytes and digits, no `String` (this runs for every report).
        TaskRecord.append(#","seq":"#, to: &out)
        TaskRecord.append(seq, to: &out)
        TaskRecord.append(#","event":""#, to: &out)
        out.append(contentsOf: event.rawValue.utf8)
        TaskRecord.append(#"","task":"#, to: &out)
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
        TaskRecord.append(kind == .removed ? #"{"type":"removed","topic":"# : #"{"type":"task","topic":"#, to: &out)
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

    /// The task's JSON inside `body` (`,"seq":N,"event":"E","task":{…}}`), for long-polls woken
    /// by a replayed event; nil for `removed`. The first `"task":` is the key: the seq digits and
    /// event names before it cannot contain one.
    var taskJSON: [UInt8]? {
        guard kind == .task else { return nil }
        let key = Array(#""task":"#.utf8)
        guard body.count > key.count + 1 else { return nil }
        for start in 0...(body.count - key.count - 1) where body[start] == key[0] {
            if body[start..<(start + key.count)].elementsEqual(key) {
                return Array(body[(start + key.count)..<(body.count - 1)])
            }
        }
        return nil
    }

    var topics: [TaskTopic] {
        var topics: [TaskTopic] = [.all, .task(taskID)]
        if let owner { topics.append(.owner(owner)) }
        return topics
    }
}

/// An event on its way to the loops: one JSON text per topic it belongs to, ready to frame.
/// An event made by the actor carries its shared body only and writes a topic's text when a
/// loop asks for it (`message(at:)`): a loop asks only for topics someone subscribes to, so
/// a progress report nobody watches on `tasks` or `owner:…` costs no copy of the task there.
public struct PublishedEvent: Sendable {
    public let seq: UInt64
    public let taskID: String
    /// Progress events may be conflated for a slow subscriber; lifecycle events never.
    public let isProgress: Bool
    /// The task's JSON after the change (nil for `removed`), for long-polls waiting on it.
    public let taskJSON: [UInt8]?
    let content: Content

    enum Content: Sendable {
        /// Texts given as they are (an event read from a broker frame, tests).
        case messages([(topic: String, json: [UInt8])])
        /// The history entry's body, shared by its topics (`tasks`, `task:<id>`, `owner:<o>`).
        case shared(kind: HistoryEntry.Kind, owner: String?, body: [UInt8])
    }

    public init(seq: UInt64, taskID: String, isProgress: Bool, taskJSON: [UInt8]?, messages: [(topic: String, json: [UInt8])]) {
        self.init(seq: seq, taskID: taskID, isProgress: isProgress, taskJSON: taskJSON, content: .messages(messages))
    }

    init(seq: UInt64, taskID: String, isProgress: Bool, taskJSON: [UInt8]?, content: Content) {
        self.seq = seq
        self.taskID = taskID
        self.isProgress = isProgress
        self.taskJSON = taskJSON
        self.content = content
    }

    /// How many topics the event belongs to.
    public var topicCount: Int {
        switch content {
        case .messages(let messages): return messages.count
        case .shared(_, let owner, _): return owner == nil ? 2 : 3
        }
    }

    /// The name of topic `index` (< `topicCount`): `tasks`, `task:<id>`, then `owner:<o>`.
    public func topic(at index: Int) -> String {
        switch content {
        case .messages(let messages): return messages[index].topic
        case .shared(_, let owner, _): return Self.taskTopic(at: index, taskID: taskID, owner: owner).description
        }
    }

    /// The JSON text for topic `index`, written now for an actor's event.
    public func message(at index: Int) -> [UInt8] {
        switch content {
        case .messages(let messages): return messages[index].json
        case .shared(let kind, let owner, let body):
            return TaskEventEncoder.message(kind: kind, topic: Self.taskTopic(at: index, taskID: taskID, owner: owner), body: body)
        }
    }

    /// Every topic's text (broker frames, tests): `message(at:)` for each.
    public var messages: [(topic: String, json: [UInt8])] {
        if case .messages(let messages) = content { return messages }
        return (0..<topicCount).map { (topic: topic(at: $0), json: message(at: $0)) }
    }

    /// `HistoryEntry.topics`, one at a time.
    private static func taskTopic(at index: Int, taskID: String, owner: String?) -> TaskTopic {
        switch index {
        case 0: return .all
        case 1: return .task(taskID)
        default: return .owner(owner!)
        }
    }
}

extension PublishedEvent {
    /// The event as the loops need it: the entry's body, written per topic on demand.
    init(_ entry: HistoryEntry, taskJSON: [UInt8]?) {
        self.init(seq: entry.seq, taskID: entry.taskID, isProgress: entry.isProgress, taskJSON: taskJSON,
                  content: .shared(kind: entry.kind, owner: entry.owner, body: entry.body))
    }
}

/// Where the actor sends what a loop (or a server process) must hear: each batch of events
/// caused by others, the outputs of its own batches, and the resume when it attaches. The actor
/// makes every call from inside itself, one after another, so a sink that forwards each call in
/// order (one `loop.execute` each) sees everything in seq order — replies included. (Returning
/// outputs from the `await` instead would race with the next `publish`.)
public protocol TaskEventSink: AnyObject, Sendable {
    /// Events caused by others (other loops, processes, lease timers): one call per batch.
    func publish(_ events: [PublishedEvent])
    /// The events of a batch this sink submitted, each reply at its place among them.
    func complete(batch: UInt64, _ outputs: [HubOutput])
    /// The sink was attached: `missed` are the events after the seq it asked to resume from,
    /// nil when they are no longer known (another epoch, or past the history): it must resync.
    func attached(epoch: String, seq: UInt64, missed: [PublishedEvent]?)
}

extension TaskEventSink {
    public func complete(batch: UInt64, _ outputs: [HubOutput]) {}
    public func attached(epoch: String, seq: UInt64, missed: [PublishedEvent]?) {}
}

/// What a batch produces for the loop that sent it: events, with each reply at its place.
public enum HubOutput: Sendable {
    case event(PublishedEvent)
    case reply(index: Int, TaskReply)
}
