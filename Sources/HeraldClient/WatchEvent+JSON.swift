import HeraldWire

extension WatchEvent {
    /// Decodes one `/ws` text frame (contract, "WebSocket"); nil when it is not JSON or lacks
    /// what its type needs. Unknown types decode as `.other`, so a newer server does not break
    /// an older `herald watch`.
    public static func decode(_ text: String) -> WatchEvent? {
        guard let value = try? JSONParser.parse(Array(text.utf8)), case .object(let o) = value,
            let type = o["type"]?.stringValue
        else { return nil }
        let topic = o["topic"]?.stringValue ?? ""
        switch type {
        case "snapshot":
            guard let seq = o["seq"]?.intValue, let list = o["tasks"]?.arrayValue else { return nil }
            var counts: [String: Int] = [:]
            for member in o["counts"]?.objectValue ?? JSONObject() {
                if let n = member.value.intValue { counts[member.key] = n }
            }
            return .snapshot(
                topic: topic, epoch: o["epoch"]?.stringValue ?? "", seq: seq,
                recovered: o["recovered"]?.boolValue ?? true, counts: counts, tasks: list.compactMap(WatchTask.init(json:)))
        case "resumed":
            guard let since = o["since"]?.intValue else { return nil }
            return .resumed(topic: topic, epoch: o["epoch"]?.stringValue ?? "", since: since)
        case "task":
            guard let seq = o["seq"]?.intValue, let event = o["event"]?.stringValue,
                let task = o["task"].flatMap(WatchTask.init(json:))
            else { return nil }
            return .task(topic: topic, seq: seq, event: event, task: task)
        case "removed":
            guard let seq = o["seq"]?.intValue, let id = o["id"]?.stringValue else { return nil }
            return .removed(topic: topic, seq: seq, id: id)
        case "error":
            return .error(code: o["code"]?.stringValue ?? "error", message: o["message"]?.stringValue ?? "")
        default:
            return .other(type: type)
        }
    }
}

extension WatchTask {
    /// The task object of the contract; nil without an id and a status.
    public init?(json: JSONValue) {
        guard case .object(let o) = json, let id = o["id"]?.stringValue, let status = o["status"]?.stringValue else { return nil }
        let error = o["error"]?.objectValue
        self.init(
            id: id, title: o["title"]?.stringValue ?? "", owner: o["owner"]?.stringValue, status: status,
            stale: o["stale"]?.boolValue ?? false, done: o["done"]?.numberValue ?? 0, total: o["total"]?.numberValue,
            percent: o["percent"]?.numberValue, message: o["message"]?.stringValue ?? "", rate: o["rate"]?.numberValue,
            etaSeconds: o["eta_s"]?.numberValue, errorCode: error?["code"]?.stringValue,
            errorMessage: error?["message"]?.stringValue, attempt: o["attempt"]?.intValue ?? 1,
            createdAt: o["created_at"]?.stringValue, updatedAt: o["updated_at"]?.stringValue,
            startedAt: o["started_at"]?.stringValue, finishedAt: o["finished_at"]?.stringValue, seq: o["seq"]?.intValue ?? 0,
            timeoutSeconds: o["timeout_s"]?.numberValue, stallSeconds: o["stall_s"]?.numberValue,
            progressAt: o["progress_at"]?.stringValue)
    }
}
