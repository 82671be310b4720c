import HeraldWire

extension TaskRecord {
    /// The contract's task object, every field present (null where unknown), in a fixed order.
    public func encodeJSON(into out: inout [UInt8]) {
        out.append(contentsOf: #"{"id":"#.utf8)
        JSONWriter.writeString(id, into: &out)
        out.append(contentsOf: #","title":"#.utf8)
        writeTitle(into: &out)
        out.append(contentsOf: #","owner":"#.utf8)
        Self.write(owner, into: &out)
        out.append(contentsOf: #","status":""#.utf8)
        out.append(contentsOf: status.rawValue.utf8)
        out.append(contentsOf: stale ? #"","stale":true,"done":"#.utf8 : #"","stale":false,"done":"#.utf8)
        JSONWriter.writeNumber(done, into: &out)
        out.append(contentsOf: #","total":"#.utf8)
        Self.write(total, into: &out)
        out.append(contentsOf: #","percent":"#.utf8)
        Self.write(percent, places: 2, into: &out)
        out.append(contentsOf: #","message":"#.utf8)
        JSONWriter.writeString(message, into: &out)
        out.append(contentsOf: #","rate":"#.utf8)
        Self.write(rate, places: 3, into: &out)
        out.append(contentsOf: #","eta_s":"#.utf8)
        Self.write(etaSeconds, places: 1, into: &out)
        out.append(contentsOf: #","error":"#.utf8)
        if let error {
            out.append(contentsOf: #"{"code":"#.utf8)
            JSONWriter.writeString(error.code, into: &out)
            out.append(contentsOf: #","message":"#.utf8)
            JSONWriter.writeString(error.message, into: &out)
            out.append(UInt8(ascii: "}"))
        } else {
            out.append(contentsOf: "null".utf8)
        }
        out.append(contentsOf: #","result":"#.utf8)
        JSONWriter.write(result ?? .null, into: &out)
        out.append(contentsOf: #","attempt":"#.utf8)
        out.append(contentsOf: String(attempt).utf8)
        out.append(contentsOf: #","lease_s":"#.utf8)
        JSONWriter.writeNumber(leaseSeconds, into: &out)
        out.append(contentsOf: #","expire_s":"#.utf8)
        JSONWriter.writeNumber(expireSeconds, into: &out)
        out.append(contentsOf: #","timeout_s":"#.utf8)
        Self.write(timeoutSeconds, into: &out)
        out.append(contentsOf: #","stall_s":"#.utf8)
        Self.write(stallSeconds, into: &out)
        // Each key a literal and each time written in place: no array, String or interpolation
        // per field (this runs on every event, for every progress report).
        Self.write(time: createdAt, key: #","created_at":"#, into: &out)
        Self.write(time: updatedAt, key: #","updated_at":"#, into: &out)
        Self.write(time: startedAt, key: #","started_at":"#, into: &out)
        Self.write(time: finishedAt, key: #","finished_at":"#, into: &out)
        Self.write(time: heartbeatAt, key: #","heartbeat_at":"#, into: &out)
        Self.write(time: progressAt, key: #","progress_at":"#, into: &out)
        out.append(contentsOf: #","meta":"#.utf8)
        let meta = metaJSON
        if meta.isEmpty { out.append(contentsOf: Self.emptyObject) } else { out.append(contentsOf: meta) }
        out.append(contentsOf: #","seq":"#.utf8)
        out.append(contentsOf: String(seq).utf8)
        out.append(UInt8(ascii: "}"))
    }

    /// The task object, in an array of exactly its size: the hub keeps one per task (100,000 of
    /// them), and a typical task is just over 512 bytes since the deadline fields, so the
    /// buffer it was written in (grown to 1,024) would waste ~0.5 KB per task — measured with
    /// bench/deadlines and heaptrack. The copy of ~500 bytes per change is cheap next to that.
    /// (`Array(out[...])` would not copy: a slice of a whole array hands back its buffer.)
    public var json: [UInt8] {
        var scratch: [UInt8] = []
        return json(scratch: &scratch)
    }

    /// `json`, written in `scratch` first (emptied, its capacity kept: the actor passes the same
    /// buffer for every change, so the only allocation per event is the exact-size copy).
    func json(scratch: inout [UInt8]) -> [UInt8] {
        scratch.removeAll(keepingCapacity: true)
        scratch.reserveCapacity(Self.encodingCapacity)
        encodeJSON(into: &scratch)
        return [UInt8](unsafeUninitializedCapacity: scratch.count) { buffer, count in
            count = buffer.initialize(from: scratch).1
        }
    }

    /// Room for a task with a long title, message and some meta; larger ones grow once.
    static let encodingCapacity = 1024

    private static func write(_ s: String?, into out: inout [UInt8]) {
        if let s { JSONWriter.writeString(s, into: &out) } else { out.append(contentsOf: "null".utf8) }
    }

    private static func write(time: Int64?, key: StaticString, into out: inout [UInt8]) {
        key.withUTF8Buffer { out.append(contentsOf: $0) }
        if let time {
            out.append(UInt8(ascii: "\""))
            RFC3339.write(millisecondsSince1970: time, into: &out)
            out.append(UInt8(ascii: "\""))
        } else {
            out.append(contentsOf: "null".utf8)
        }
    }

    private static func write(_ d: Double?, into out: inout [UInt8]) {
        if let d { JSONWriter.writeNumber(d, into: &out) } else { out.append(contentsOf: "null".utf8) }
    }

    /// `d` rounded to `places` decimals (what the contract shows of a percent, rate or ETA).
    private static func write(_ d: Double?, places: Int, into out: inout [UInt8]) {
        if let d { JSONWriter.writeRounded(d, places: places, into: &out) } else { out.append(contentsOf: "null".utf8) }
    }

    /// Reads back what `encodeJSON` wrote (for a restart); nil when a field is missing or malformed.
    public static func decode(_ value: JSONValue) -> TaskRecord? {
        guard case .object(let o) = value,
              let id = o["id"]?.stringValue, let title = o["title"]?.stringValue,
              let statusText = o["status"]?.stringValue, let status = TaskStatus(rawValue: statusText),
              let done = o["done"]?.numberValue, let lease = o["lease_s"]?.numberValue,
              let createdText = o["created_at"]?.stringValue, let created = RFC3339.parse(createdText),
              let updatedText = o["updated_at"]?.stringValue, let updated = RFC3339.parse(updatedText),
              let attempt = o["attempt"]?.numberValue, let seq = o["seq"]?.numberValue
        else { return nil }
        var task = TaskRecord(
            id: id, title: title, owner: o["owner"]?.stringValue, total: o["total"]?.numberValue, leaseSeconds: lease,
            expireSeconds: o["expire_s"]?.numberValue ?? lease * 10, meta: o["meta"]?.objectValue ?? JSONObject(), now: created)
        task.status = status
        task.stale = o["stale"]?.boolValue ?? false
        task.done = done
        if task.total == nil { task.directPercent = o["percent"]?.numberValue }
        task.message = o["message"]?.stringValue ?? ""
        task.rate = o["rate"]?.numberValue
        task.etaSeconds = o["eta_s"]?.numberValue
        if let e = o["error"]?.objectValue, let code = e["code"]?.stringValue {
            task.error = TaskFailure(code: code, message: e["message"]?.stringValue ?? "")
        }
        if let r = o["result"], !r.isNull { task.result = r }
        task.attempt = Int(attempt)
        task.updatedAt = updated
        task.startedAt = o["started_at"]?.stringValue.flatMap(RFC3339.parse)
        task.finishedAt = o["finished_at"]?.stringValue.flatMap(RFC3339.parse)
        task.heartbeatAt = o["heartbeat_at"]?.stringValue.flatMap(RFC3339.parse)
        // Absent in tasks stored before deadlines existed: none, and no progress seen yet.
        task.timeoutSeconds = o["timeout_s"]?.numberValue
        task.stallSeconds = o["stall_s"]?.numberValue
        task.progressAt = o["progress_at"]?.stringValue.flatMap(RFC3339.parse)
        task.seq = UInt64(seq)
        return task
    }
}
