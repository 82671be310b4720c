import HeraldWire

extension TaskHub {
    /// What a new subscriber of `topic` receives before live events: `resumed` plus the missed
    /// events when `since` (in `epoch`) is still within the history, else a snapshot
    /// (`recovered: false` when a resume was asked for and could not be honoured).
    /// With `owner`, a resume replays only that owner's events (a `task:<id>` may have belonged
    /// to someone else before it was deleted and created again).
    func subscribe(topic: TaskTopic, since: UInt64?, epoch clientEpoch: String?, owner: String? = nil) -> [[UInt8]] {
        if let since {
            if clientEpoch == nil || clientEpoch == epoch, let missed = history.entries(after: since, current: seq) {
                var messages = [TaskEventEncoder.resumed(topic: topic, epoch: epoch, since: since)]
                for entry in missed where entry.belongs(to: topic) && (owner == nil || entry.owner == owner) {
                    messages.append(TaskEventEncoder.message(kind: entry.kind, topic: topic, body: entry.body))
                }
                return messages
            }
            return [snapshot(topic, recovered: false)]
        }
        return [snapshot(topic, recovered: true)]
    }

    /// Every non-terminal task of the topic, the newest `snapshotTerminal` terminal ones, and
    /// counts of all the topic's tasks by status.
    func snapshot(_ topic: TaskTopic, recovered: Bool) -> [UInt8] {
        // (seq, id) pairs: sorting and choosing never copies a task record.
        var chosen: [(seq: UInt64, id: String)] = []
        var counts: [TaskStatus: Int] = [:]
        switch topic {
        case .all:
            counts = statusCounts
            chosen.reserveCapacity(activeSeq.count + configuration.snapshotTerminal)
            for (id, seq) in activeSeq { chosen.append((seq, id)) }
            chosen += newestTerminalOverall()
        case .task(let id):
            if let task = tasks[id] {
                chosen = [(task.seq, id)]
                counts[task.status] = 1
            }
        case .owner(let name):
            var terminal: [(seq: UInt64, id: String)] = []
            for id in ownerIDs(name) {
                guard let task = tasks[id] else { continue }
                counts[task.status, default: 0] += 1
                if task.status.isTerminal { terminal.append((task.seq, id)) } else { chosen.append((task.seq, id)) }
            }
            if terminal.count > configuration.snapshotTerminal {
                terminal.sort { $0.seq > $1.seq }
                terminal.removeLast(terminal.count - configuration.snapshotTerminal)
            }
            chosen += terminal
        }
        chosen.sort { $0.seq < $1.seq }

        var out = Array(#"{"type":"snapshot","topic":"#.utf8)
        JSONWriter.writeString(topic.description, into: &out)
        out.append(contentsOf: #","epoch":"#.utf8)
        JSONWriter.writeString(epoch, into: &out)
        out.append(contentsOf: #","seq":"#.utf8)
        out.append(contentsOf: String(seq).utf8)
        out.append(contentsOf: recovered ? #","recovered":true,"counts":{"#.utf8 : #","recovered":false,"counts":{"#.utf8)
        var first = true
        for status in TaskStatus.allCases {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: status.rawValue.utf8)
            out.append(contentsOf: "\":\(max(0, counts[status] ?? 0))".utf8)
        }
        out.append(contentsOf: #"},"tasks":["#.utf8)
        for (i, entry) in chosen.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            if let json = tasks.json(entry.id) { out.append(contentsOf: json) }
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }

    /// The newest `snapshotTerminal` finished tasks, from the end of `terminalOrder` (the order
    /// tasks finished in, which is their seq order: a finished task changes no more). Entries of
    /// tasks retried, deleted or finished again since are skipped.
    private func newestTerminalOverall() -> [(seq: UInt64, id: String)] {
        var out: [(seq: UInt64, id: String)] = []
        var seen = Set<String>()
        var i = terminalOrder.count - 1
        while i >= terminalOrderStart && out.count < configuration.snapshotTerminal {
            let entry = terminalOrder[i]
            i -= 1
            guard seen.insert(entry.id).inserted, let task = tasks[entry.id], task.status.isTerminal else { continue }
            out.append((task.seq, entry.id))
        }
        return out
    }

    /// `owner`'s tasks (every owner's when nil) in one of `statuses` (any when empty), as
    /// (seq, id) pairs in no order: what lists and batch filters choose from, without copying
    /// a record.
    func matching(owner: String?, statuses: Set<TaskStatus>) -> [(seq: UInt64, id: String)] {
        var found: [(seq: UInt64, id: String)] = []
        func consider(_ task: TaskRecord) {
            if statuses.isEmpty || statuses.contains(task.status) { found.append((task.seq, task.id)) }
        }
        if let owner {
            for id in ownerIDs(owner) { if let task = tasks[id] { consider(task) } }
        } else {
            for task in tasks.values { consider(task) }
        }
        return found
    }

    /// `{"tasks":[…],"seq":N}`, most recently changed first.
    func list(owner: String?, statuses: Set<TaskStatus>, limit: Int?) -> [UInt8] {
        let limit = min(max(limit ?? configuration.defaultListLimit, 0), configuration.maxListLimit)
        let chosen = matching(owner: owner, statuses: statuses).sorted { $0.seq > $1.seq }.prefix(limit)
        var out = Array(#"{"tasks":["#.utf8)
        for (i, entry) in chosen.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: tasks.json(entry.id) ?? [])
        }
        out.append(contentsOf: #"],"seq":"#.utf8)
        out.append(contentsOf: String(seq).utf8)
        out.append(UInt8(ascii: "}"))
        return out
    }
}
