extension TaskHub {
    /// `request` for a caller that sees only `owner`'s tasks. Another owner's task answers as a
    /// missing one would (404 on every path), so nothing tells a viewer that it exists; a topic
    /// beyond its own is `forbidden`. Which operations a role may ask for at all is checked
    /// before the request gets here (HeraldAccess `Role.may`).
    func reply(to request: TaskRequest, visibleTo owner: String, now: Int64) -> TaskReply {
        switch request {
        case .get(let id):
            guard isVisible(id, to: owner) else { return .failure(.notFound(id)) }
            return reply(to: request, now: now)
        case .list(_, let statuses, let limit):
            return .list(json: list(owner: owner, statuses: statuses, limit: limit))
        case .subscribe(let topic, let since, let epoch):
            switch topic {
            case .all:
                return .failure(.forbidden("topic tasks lists every owner's tasks; subscribe to owner:\(owner)"))
            case .owner(let name) where name != owner:
                return .failure(.forbidden("you may subscribe to owner:\(owner) and task:<id> of your own tasks"))
            case .task(let id) where !isVisible(id, to: owner):
                return .failure(.forbidden("you may subscribe to owner:\(owner) and task:<id> of your own tasks"))
            default:
                return .subscription(messages: subscribe(topic: topic, since: since, epoch: epoch, owner: owner))
            }
        case .stats:
            return .failure(.forbidden("server statistics are for admin tokens"))
        case .batch(let batch):
            return batchReply(batch, visibleTo: owner, now: now)
        case .statistics(_, let windowSeconds):
            // Its own tasks' statistics, whatever owner it asked for.
            return reply(to: .statistics(owner: owner, windowSeconds: windowSeconds), now: now)
        case .scoped:
            return .failure(.forbidden("a request is scoped once"))
        case .operation(let op):
            if case .create(let input) = op {
                guard input.owner == owner else { return .failure(.forbidden("you may create tasks owned by \(owner) only")) }
            } else if let id = op.taskID, !isVisible(id, to: owner) {
                return .failure(.notFound(id))
            }
            return reply(to: request, now: now)
        }
    }

    private func isVisible(_ id: String, to owner: String) -> Bool {
        tasks[id]?.owner == owner
    }
}
