/// How many held tasks each named owner has in each status, kept on every status change, so
/// `GET /api/stats?owner=x` answers its `counts` without visiting the owner's (possibly
/// 100,000) tasks. Tasks without owner are only in the hub's overall `statusCounts`.
struct OwnerStatusCounts: Sendable {
    private var counts: [String: [TaskStatus: Int]] = [:]

    init() {}

    /// Counts already summed per owner (a load's): owners with no task are left out.
    init(_ counts: [String: [TaskStatus: Int]]) {
        self.counts = counts.filter { !$0.value.isEmpty }
    }

    func counts(of owner: String) -> [TaskStatus: Int] { counts[owner] ?? [:] }

    /// Owners with at least one held task (an owner whose last task went is dropped).
    var ownerCount: Int { counts.count }

    /// Follows one task: `from` nil for a task created or restored, `to` nil for one removed.
    mutating func note(owner: String?, from: TaskStatus?, to: TaskStatus?) {
        guard let owner, from != to else { return }
        if let to { counts[owner, default: [:]][to, default: 0] += 1 }
        guard let from else { return }
        counts[owner, default: [:]][from, default: 0] -= 1
        if counts[owner]?[from] == 0 { counts[owner]?.removeValue(forKey: from) }
        if counts[owner]?.isEmpty == true { counts.removeValue(forKey: owner) }
    }
}
