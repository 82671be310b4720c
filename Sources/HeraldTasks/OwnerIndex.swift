/// Which held tasks each named owner has (for `owner:` snapshots, lists and statistics). A
/// restart does not build it while loading — 100,000 `Set` inserts were 5 % of a restart — but
/// forgets it, and the first read builds it once from the task table; until then changes to it
/// are not noted (the table is the truth it is rebuilt from).
struct OwnerIndex {
    private var ids: [String: Set<String>] = [:]
    /// False after `forget()` until the next `build`.
    private(set) var isBuilt = true

    /// The ids of `owner`'s tasks; only while built (see `TaskHub.ownerIDs`).
    func ids(of owner: String) -> Set<String> {
        precondition(isBuilt, "the owner index is read only once built")
        return ids[owner] ?? []
    }

    mutating func insert(_ id: String, owner: String?) {
        guard isBuilt, let owner else { return }
        ids[owner, default: []].insert(id)
    }

    mutating func remove(_ id: String, owner: String?) {
        guard isBuilt, let owner else { return }
        ids[owner]?.remove(id)
        if ids[owner]?.isEmpty == true { ids.removeValue(forKey: owner) }
    }

    /// Drops the index until `build` (a load puts every task in place without it).
    mutating func forget() {
        ids = [:]
        isBuilt = false
    }

    /// Builds the index from every held task's (id, owner).
    mutating func build(from tasks: some Sequence<(id: String, owner: String?)>) {
        ids = [:]
        isBuilt = true
        for task in tasks { insert(task.id, owner: task.owner) }
    }
}
