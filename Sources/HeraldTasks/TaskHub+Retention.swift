/// Retention (`--retention`) and the task cap (`--max-tasks`): finished tasks leave oldest first,
/// in the order they finished, without a scan. (Leases live in TaskHub+Deadlines, with the
/// deadline heap.)
extension TaskHub {
    /// Removes terminal tasks older than the retention period.
    func enforceRetention(now: Int64) {
        let cutoff = now - Int64(configuration.retentionSeconds * 1000)
        while let (id, task) = oldestTerminal(), (task.finishedAt ?? task.updatedAt) < cutoff {
            terminalOrderStart += 1
            remove(id)
        }
    }

    /// Makes room for one more task by removing the oldest terminal one, if any.
    func evictOldestTerminal(now: Int64) {
        guard let (id, _) = oldestTerminal() else { return }
        terminalOrderStart += 1
        remove(id)
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

    /// Drops the entries before `terminalOrderStart`; only between turns (after a commit), so a
    /// turn's rollback finds `terminalOrder` as it left it plus appended entries.
    func compactTerminalOrder() {
        if terminalOrderStart > 1024 && terminalOrderStart * 2 > terminalOrder.count {
            terminalOrder.removeFirst(terminalOrderStart)
            terminalOrderStart = 0
        }
    }
}
