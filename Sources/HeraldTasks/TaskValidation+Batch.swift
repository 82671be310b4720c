import HeraldWire

extension TaskValidation {
    /// A `POST /api/batch` body, checked in full before anything is applied: a malformed item
    /// refuses the whole batch (400, naming the item), more than `TaskBatch.maxItems` is 413.
    /// `mayCreate: false` (a viewer) refuses a create batch with 403 before its items are read.
    public static func batch(_ body: [UInt8], mayCreate: Bool = true) throws(TaskError) -> TaskBatch {
        let o = try object(body)
        guard let op = o["op"]?.stringValue else {
            throw .missingField("op")
        }
        if op == "create" {
            guard mayCreate else { throw .forbidden("this token may not create tasks") }
            guard o["ids"] == nil, o["filter"] == nil else { throw .invalidField("op", "create takes items, not ids or filter") }
            guard let value = o["items"] else { throw .missingField("items") }
            guard let items = value.arrayValue else { throw .invalidField("items", "must be an array of create bodies") }
            try checkCount(items.count)
            var inputs: [CreateInput] = []
            inputs.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                guard case .object(let fields) = item else { throw .invalidField("items[\(i)]", "must be a JSON object") }
                do {
                    inputs.append(try create(fields: fields))
                } catch {
                    throw TaskError(status: error.status, code: error.code, message: "items[\(i)]: \(error.message)")
                }
            }
            return .create(inputs)
        }
        guard let action = TaskBatchAction(rawValue: op) else {
            throw .invalidField("op", "must be create, cancel, retry or delete")
        }
        guard o["items"] == nil else { throw .invalidField("items", "\(op) takes ids or filter, not items") }
        switch (o["ids"], o["filter"]) {
        case (let ids?, nil):
            guard let list = ids.arrayValue else { throw .invalidField("ids", "must be an array of task ids") }
            try checkCount(list.count)
            var out: [String] = []
            for (i, value) in list.enumerated() {
                guard let id = value.stringValue, isValidID(id) else { throw .invalidField("ids[\(i)]", "must be a task id") }
                out.append(id)
            }
            return .change(action, .ids(out))
        case (nil, let filter?):
            guard case .object(let fields) = filter else { throw .invalidField("filter", "must be an object with owner and/or status") }
            if let unknown = fields.keys.first(where: { $0 != "owner" && $0 != "status" }) {
                throw .invalidField("filter.\(unknown)", "a filter has owner and status only")
            }
            var owner: String?
            if let value = fields["owner"], !value.isNull {
                guard let text = value.stringValue, isValidOwner(text) else { throw .invalidField("filter.owner", "must be an owner name") }
                owner = text
            }
            var statuses = Set<TaskStatus>()
            if let value = fields["status"], !value.isNull {
                guard let list = value.arrayValue else { throw .invalidField("filter.status", "must be an array of statuses") }
                for item in list {
                    guard let text = item.stringValue, let status = TaskStatus(rawValue: text) else {
                        throw .invalidField("filter.status", "unknown status \(item)")
                    }
                    statuses.insert(status)
                }
            }
            return .change(action, .filter(owner: owner, statuses: statuses))
        case (nil, nil):
            throw .missingField("ids")
        default:
            throw .invalidField("filter", "give ids or filter, not both")
        }
    }

    private static func checkCount(_ count: Int) throws(TaskError) {
        guard count <= TaskBatch.maxItems else {
            throw TaskError(status: 413, code: "too_many_items", message: "a batch has at most \(TaskBatch.maxItems) items, this one \(count)")
        }
    }
}
