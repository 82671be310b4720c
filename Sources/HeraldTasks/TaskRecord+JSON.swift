import HeraldWire

extension TaskRecord {
    /// The contract's task object, every field present (null where unknown), in a fixed order.
    public func encodeJSON(into out: inout [UInt8]) {
        var times = TimeTextCache()
        encodeJSON(into: &out, times: &times)
    }

    /// `encodeJSON(into:)` with the actor's cache of the last second's time text (the reports
    /// of a second share it: `updated_at`, `progress_at`, `heartbeat_at` are that second).
    /// Keys are appended as `StaticString` bytes and integers as digits: a `String`'s
    /// `utf8` appended cost ~60 more instructions per key, ~29 keys per task (callgrind, S7).
    func encodeJSON(into out: inout [UInt8], times: inout TimeTextCache) {
        Self.append(#"{"id":"#, to: &out)
        JSONWriter.writeString(id, into: &out)
        Self.append(#","title":"#, to: &out)
        writeTitle(into: &out)
        Self.append(#","owner":"#, to: &out)
        Self.write(owner, into: &out)
        Self.append(#","status":""#, to: &out)
        out.append(contentsOf: status.rawValue.utf8)
        Self.append(stale ? #"","stale":true,"done":"# : #"","stale":false,"done":"#, to: &out)
        JSONWriter.writeNumber(done, into: &out)
        Self.append(#","total":"#, to: &out)
        Self.write(total, into: &out)
        Self.append(#","percent":"#, to: &out)
        Self.write(percent, places: 2, into: &out)
        Self.append(#","message":"#, to: &out)
        JSONWriter.writeString(message, into: &out)
        Self.append(#","rate":"#, to: &out)
        Self.write(rate, places: 3, into: &out)
        Self.append(#","eta_s":"#, to: &out)
        Self.write(etaSeconds, places: 1, into: &out)
        Self.append(#","error":"#, to: &out)
        if let error {
            Self.append(#"{"code":"#, to: &out)
            JSONWriter.writeString(error.code, into: &out)
            Self.append(#","message":"#, to: &out)
            JSONWriter.writeString(error.message, into: &out)
            out.append(UInt8(ascii: "}"))
        } else {
            Self.append("null", to: &out)
        }
        Self.append(#","result":"#, to: &out)
        JSONWriter.write(result ?? .null, into: &out)
        Self.append(#","attempt":"#, to: &out)
        HTTPResponseEncoder.appendDecimal(attempt, to: &out)
        Self.append(#","lease_s":"#, to: &out)
        JSONWriter.writeNumber(leaseSeconds, into: &out)
        Self.append(#","expire_s":"#, to: &out)
        JSONWriter.writeNumber(expireSeconds, into: &out)
        Self.append(#","timeout_s":"#, to: &out)
        Self.write(timeoutSeconds, into: &out)
        Self.append(#","stall_s":"#, to: &out)
        Self.write(stallSeconds, into: &out)
        // Each key a literal and each time written in place: no array, String or interpolation
        // per field (this runs on every event, for every progress report).
        Self.write(time: createdAt, key: #","created_at":"#, times: &times, into: &out)
        Self.write(time: updatedAt, key: #","updated_at":"#, times: &times, into: &out)
        Self.write(time: startedAt, key: #","started_at":"#, times: &times, into: &out)
        Self.write(time: finishedAt, key: #","finished_at":"#, times: &times, into: &out)
        Self.write(time: heartbeatAt, key: #","heartbeat_at":"#, times: &times, into: &out)
        Self.write(time: progressAt, key: #","progress_at":"#, times: &times, into: &out)
        Self.append(#","meta":"#, to: &out)
        let meta = metaJSON
        if meta.isEmpty { out.append(contentsOf: Self.emptyObject) } else { out.append(contentsOf: meta) }
        Self.append(#","seq":"#, to: &out)
        Self.append(seq, to: &out)
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
        var times = TimeTextCache()
        return json(scratch: &scratch, times: &times)
    }

    /// `json(scratch:)` with the actor's time-text cache (`encodeJSON(into:times:)`).
    func json(scratch: inout [UInt8], times: inout TimeTextCache) -> [UInt8] {
        scratch.removeAll(keepingCapacity: true)
        scratch.reserveCapacity(Self.encodingCapacity)
        encodeJSON(into: &scratch, times: &times)
        return [UInt8](unsafeUninitializedCapacity: scratch.count) { buffer, count in
            count = buffer.initialize(from: scratch).1
        }
    }

    /// Room for a task with a long title, message and some meta; larger ones grow once.
    static let encodingCapacity = 1024

    private static func write(_ s: String?, into out: inout [UInt8]) {
        if let s { JSONWriter.writeString(s, into: &out) } else { append("null", to: &out) }
    }

    @inline(__always)
    static func append(_ literal: StaticString, to out: inout [UInt8]) {
        literal.withUTF8Buffer { out.append(contentsOf: $0) }
    }

    /// `String(value)`'s digits, without the `String`.
    static func append(_ value: UInt64, to out: inout [UInt8]) {
        if value <= UInt64(Int.max) {
            HTTPResponseEncoder.appendDecimal(Int(value), to: &out)
        } else {
            out.append(contentsOf: String(value).utf8)
        }
    }

    private static func write(time: Int64?, key: StaticString, times: inout TimeTextCache, into out: inout [UInt8]) {
        append(key, to: &out)
        if let time {
            out.append(UInt8(ascii: "\""))
            times.write(millisecondsSince1970: time, into: &out)
            out.append(UInt8(ascii: "\""))
        } else {
            append("null", to: &out)
        }
    }

    private static func write(_ d: Double?, into out: inout [UInt8]) {
        if let d { JSONWriter.writeNumber(d, into: &out) } else { append("null", to: &out) }
    }

    /// `d` rounded to `places` decimals (what the contract shows of a percent, rate or ETA).
    private static func write(_ d: Double?, places: Int, into out: inout [UInt8]) {
        if let d { JSONWriter.writeRounded(d, places: places, into: &out) } else { append("null", to: &out) }
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

/// `RFC3339.write`'s text of the last second written, so the times of one second (a report's
/// `updated_at`, `progress_at`, `heartbeat_at`, and the next reports') copy its first 20 bytes
/// (`YYYY-MM-DDTHH:MM:SS.`) and write only the milliseconds. The same bytes as `RFC3339.write`:
/// for a time ≥ 0 whose text is the fixed 24 bytes, those 20 bytes depend on the second only
/// (`TaskRecordJSONTests` compares the two over seconds, years and a cache carried across).
struct TimeTextCache {
    private var second: Int64 = -1
    private var prefix: [UInt8] = []

    mutating func write(millisecondsSince1970 ms: Int64, into out: inout [UInt8]) {
        if ms >= 0, ms / 1000 == second {
            out.append(contentsOf: prefix)
            let millis = Int(ms % 1000)
            out.append(UInt8(ascii: "0") &+ UInt8(millis / 100))
            out.append(UInt8(ascii: "0") &+ UInt8(millis / 10 % 10))
            out.append(UInt8(ascii: "0") &+ UInt8(millis % 10))
            out.append(UInt8(ascii: "Z"))
            return
        }
        let start = out.count
        RFC3339.write(millisecondsSince1970: ms, into: &out)
        // Keep the newest second seen (a report's `now`), not an older task's created_at.
        if ms >= 0, ms / 1000 > second, out.count - start == 24 {
            second = ms / 1000
            prefix.removeAll(keepingCapacity: true)
            prefix.append(contentsOf: out[start..<(start + 20)])
        }
    }
}
