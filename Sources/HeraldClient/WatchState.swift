/// The tasks `herald watch` knows, built from `/ws` snapshots and events, with what it needs to
/// resume after a reconnect. Pure: events in, state out; the command does the I/O.
public struct WatchState: Sendable {
    /// One entry per task, with the subscribed topics it was seen in.
    public private(set) var tasks: [String: WatchTask] = [:]
    private var membership: [String: Set<String>] = [:]
    public private(set) var topics: [String: TopicState] = [:]
    /// The subscribed topics, in command-line order.
    public let topicNames: [String]
    /// Event seqs applied recently, so an event delivered once per topic it belongs to (the
    /// contract sends task 7's events on both `tasks` and `task:7`) counts once.
    private var recentSeqs: Set<Int> = []
    private var recentRing: [Int] = []
    private var recentNext = 0
    /// How many recent seqs are remembered: far more than the events of one loop turn.
    static let recentSeqCapacity = 4096

    public struct TopicState: Sendable, Equatable {
        public var epoch: String
        /// The seq of the topic's snapshot or last event: where a resume starts.
        public var seq: Int
        /// Counts by status of all the topic's tasks (the snapshot's `counts`, then kept up to date).
        public var counts: [String: Int]
    }

    public init(topics: [String]) {
        topicNames = topics
    }

    /// What applying one frame meant.
    public enum Outcome: Equatable, Sendable {
        /// New information: show it.
        case applied
        /// Already seen through another topic or before a reconnect: nothing to show.
        case duplicate
        /// A frame with no effect on the tasks (resumed, error, pong).
        case informational
    }

    public mutating func apply(_ event: WatchEvent) -> Outcome {
        switch event {
        case .snapshot(let topic, let epoch, let seq, _, let counts, let list):
            // A snapshot (first subscribe, or `recovered:false`) replaces everything this topic held.
            for (id, var set) in membership where set.contains(topic) {
                set.remove(topic)
                if set.isEmpty {
                    membership[id] = nil
                    tasks[id] = nil
                } else {
                    membership[id] = set
                }
            }
            for task in list {
                upsert(task, topic: topic)
            }
            topics[topic] = TopicState(epoch: epoch, seq: seq, counts: counts)
            return .applied
        case .resumed(let topic, let epoch, let since):
            // The state we hold is still valid; the missed events follow.
            if var state = topics[topic] {
                state.epoch = epoch
                state.seq = max(state.seq, since)
                topics[topic] = state
            }
            return .informational
        case .task(let topic, let seq, _, let task):
            if let state = topics[topic], seq <= state.seq { return .duplicate }
            let previous = membership[task.id]?.contains(topic) == true ? tasks[task.id]?.status : nil
            if var state = topics[topic] {
                state.seq = seq
                if previous != task.status {
                    if let previous, let n = state.counts[previous] { state.counts[previous] = max(0, n - 1) }
                    state.counts[task.status, default: 0] += 1
                }
                topics[topic] = state
            }
            upsert(task, topic: topic)
            return remember(seq) ? .applied : .duplicate
        case .removed(let topic, let seq, let id):
            if let state = topics[topic], seq <= state.seq { return .duplicate }
            if var state = topics[topic] {
                state.seq = seq
                if let status = tasks[id]?.status, let n = state.counts[status] { state.counts[status] = max(0, n - 1) }
                topics[topic] = state
            }
            tasks[id] = nil
            membership[id] = nil
            return remember(seq) ? .applied : .duplicate
        case .error, .other:
            return .informational
        }
    }

    /// Where to resume from: the lowest seq over the subscribed topics (a topic that is
    /// further along gets a few events again, which `apply` drops as duplicates) and the epoch;
    /// nil until every topic has had its snapshot.
    public var resumePoint: (since: Int, epoch: String)? {
        var since = Int.max
        var epoch: String?
        for name in topicNames {
            guard let state = topics[name] else { return nil }
            since = min(since, state.seq)
            epoch = epoch ?? state.epoch
        }
        guard let epoch, since != Int.max else { return nil }
        return (since, epoch)
    }

    /// The highest seq seen on any topic.
    public var lastSeq: Int { topics.values.map(\.seq).max() ?? 0 }

    /// Counts by status: the one topic's (all its tasks, also those not in the snapshot), or
    /// over the tasks held when several topics overlap.
    public var counts: [String: Int] {
        if topicNames.count == 1, let state = topics[topicNames[0]] { return state.counts.filter { $0.value > 0 } }
        var out: [String: Int] = [:]
        for task in tasks.values { out[task.status, default: 0] += 1 }
        return out
    }

    private mutating func upsert(_ task: WatchTask, topic: String) {
        membership[task.id, default: []].insert(topic)
        if let old = tasks[task.id], old.seq > task.seq { return }
        tasks[task.id] = task
    }

    /// True the first time `seq` is seen.
    private mutating func remember(_ seq: Int) -> Bool {
        guard recentSeqs.insert(seq).inserted else { return false }
        if recentRing.count < Self.recentSeqCapacity {
            recentRing.append(seq)
        } else {
            recentSeqs.remove(recentRing[recentNext])
            recentRing[recentNext] = seq
            recentNext = (recentNext + 1) % Self.recentSeqCapacity
        }
        return true
    }
}
