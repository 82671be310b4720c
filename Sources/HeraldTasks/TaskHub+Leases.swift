import HeapModule

/// Lease deadlines in a min-heap (swift-collections' `Heap`). Renewals do not touch it: an
/// entry may be early, and when it comes due the task's real deadline is checked and the entry
/// pushed again if it moved.
struct LeaseHeap {
    private struct Entry: Comparable {
        var deadline: Int64
        var id: String
        static func < (a: Entry, b: Entry) -> Bool { a.deadline < b.deadline }
        static func == (a: Entry, b: Entry) -> Bool { a.deadline == b.deadline && a.id == b.id }
    }

    private var heap = Heap<Entry>()

    var isEmpty: Bool { heap.isEmpty }
    var earliest: Int64? { heap.min?.deadline }

    mutating func push(_ deadline: Int64, _ id: String) {
        heap.insert(Entry(deadline: deadline, id: id))
    }

    mutating func popDue(now: Int64) -> String? {
        guard let top = heap.min, top.deadline <= now else { return nil }
        heap.removeMin()
        return top.id
    }
}

extension TaskHub {
    /// Pushes `stale` when a lease runs out and fails the task when `expire_s` passes.
    func expireLeases(now: Int64) {
        var seen = Set<String>()
        while let id = leaseHeap.popDue(now: now) {
            guard var task = tasks[id], task.status.holdsLease else { continue }
            let before = task.status
            if let expiry = task.expiryDeadline, now >= expiry {
                commit(&task, event: task.expire(now: now), previous: before)
            } else if !task.stale, let lease = task.leaseDeadline, now >= lease {
                commit(&task, event: task.markStale(now: now), previous: before)
                if let expiry = task.expiryDeadline { leaseHeap.push(expiry, id) }
            } else if !seen.contains(id) {
                // Renewed since: wait for the deadline it has now.
                seen.insert(id)
                if let next = task.stale ? task.expiryDeadline : task.leaseDeadline { leaseHeap.push(next, id) }
            }
        }
    }

    /// Removes terminal tasks older than the retention period.
    func enforceRetention(now: Int64) {
        let cutoff = now - Int64(configuration.retentionSeconds * 1000)
        while let (id, task) = oldestTerminal(), (task.finishedAt ?? task.updatedAt) < cutoff {
            terminalOrderStart += 1
            remove(id)
        }
        compactTerminalOrder()
    }

    /// Makes room for one more task by removing the oldest terminal one, if any.
    func evictOldestTerminal(now: Int64) {
        guard let (id, _) = oldestTerminal() else { return }
        terminalOrderStart += 1
        remove(id)
        compactTerminalOrder()
    }

    /// The oldest entry of `terminalOrder` that still names a terminal task in that state.
    private func oldestTerminal() -> (String, TaskRecord)? {
        while terminalOrderStart < terminalOrder.count {
            let entry = terminalOrder[terminalOrderStart]
            // Equal: a terminal task keeps the seq it finished with; a later seq means it was
            // retried and finished again, and its newer entry further on is the one that counts.
            if let task = tasks[entry.id], task.status.isTerminal, task.seq == entry.seq {
                return (entry.id, task)
            }
            terminalOrderStart += 1  // retried, deleted or re-finished later: a newer entry exists
        }
        return nil
    }

    private func compactTerminalOrder() {
        if terminalOrderStart > 1024 && terminalOrderStart * 2 > terminalOrder.count {
            terminalOrder.removeFirst(terminalOrderStart)
            terminalOrderStart = 0
        }
    }

    /// When tasks hold leases, so a restored running task goes stale if nobody reports.
    func scheduleLeases() {
        for task in tasks.values where task.status.holdsLease {
            if let deadline = task.stale ? task.expiryDeadline : task.leaseDeadline { leaseHeap.push(deadline, task.id) }
        }
    }
}
