import HeraldWire
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading a task back from its stored JSON at a restart: 100,000 of them before `listening
/// on`. The stored JSON is what `encodeJSON` wrote — the same 28 members in the same order —
/// so `decode(json:)` first reads it in one pass along that layout, taking each scalar as it
/// goes (no `JSONValue` tree, no member lookups by name); `meta` is checked by `JSONParser`
/// and kept as the text it is, `result` is parsed alone. Anything else (another order, an older Herald's JSON without
/// the deadline fields, a string with an escape) falls back to `JSONParser` and
/// `decode(_: JSONValue)`, which read any order: both give the same record (tested).
extension TaskRecord {
    /// The record in `json`; nil when it is not a task object (see `decode(_:)`).
    public static func decode(json: [UInt8]) -> TaskRecord? {
        json.withUnsafeBufferPointer { decode(json: $0) }
    }

    /// `decode(json:)` of bytes the caller owns (a row in the store's buffer).
    public static func decode(json: UnsafeBufferPointer<UInt8>) -> TaskRecord? {
        if let task = decodeStoredLayout(json) { return task }
        guard let value = try? JSONParser.parse(json) else { return nil }
        return decode(value)
    }

    /// The one-pass reading of `encodeJSON`'s layout; nil when the bytes do not follow it
    /// exactly (the caller then parses them generically).
    static func decodeStoredLayout(_ bytes: UnsafeBufferPointer<UInt8>) -> TaskRecord? {
        var r = LayoutReader(bytes: bytes)
        guard r.key(#"{"id":"#), let id = r.string(),
              r.key(#","title":"#), let title = r.quotedString(),
              r.key(#","owner":"#), let owner = r.nullable({ $0.string() }),
              r.key(#","status":"#), let status = r.status(),
              r.key(#","stale":"#), let stale = r.bool(),
              r.key(#","done":"#), let done = r.number(),
              r.key(#","total":"#), let total = r.nullable({ $0.number() }),
              r.key(#","percent":"#), let percent = r.nullable({ $0.number() }),
              r.key(#","message":"#), let message = r.string(),
              r.key(#","rate":"#), let rate = r.nullable({ $0.number() }),
              r.key(#","eta_s":"#), let eta = r.nullable({ $0.number() }),
              r.key(#","error":"#), let error = r.nullable({ $0.failure() }),
              r.key(#","result":"#), let result = r.nullable({ $0.value() }),
              r.key(#","attempt":"#), let attempt = r.number(),
              r.key(#","lease_s":"#), let lease = r.number(),
              r.key(#","expire_s":"#), let expire = r.number(),
              r.key(#","timeout_s":"#), let timeout = r.nullable({ $0.number() }),
              r.key(#","stall_s":"#), let stall = r.nullable({ $0.number() }),
              r.key(#","created_at":"#), let created = r.time(),
              r.key(#","updated_at":"#), let updated = r.time(),
              r.key(#","started_at":"#), let started = r.nullable({ $0.time() }),
              r.key(#","finished_at":"#), let finished = r.nullable({ $0.time() }),
              r.key(#","heartbeat_at":"#), let heartbeat = r.nullable({ $0.time() }),
              r.key(#","progress_at":"#), let progress = r.nullable({ $0.time() }),
              r.key(#","meta":"#), let meta = r.objectText(),
              r.key(#","seq":"#), let seq = r.number(),
              r.key("}"), r.atEnd
        else { return nil }
        // As `decode(_:)` converts them (a stored attempt or seq is always a whole number).
        let maxExact: Double = 9_007_199_254_740_992  // 2^53
        guard attempt.rounded(.towardZero) == attempt, attempt.magnitude <= maxExact,
              seq >= 0, seq.rounded(.towardZero) == seq, seq <= maxExact else { return nil }
        var task = TaskRecord(id: id, titleJSON: title, owner: owner, total: total, leaseSeconds: lease, expireSeconds: expire,
                              metaJSON: meta, now: created)
        task.status = status
        task.stale = stale
        task.done = done
        if total == nil { task.directPercent = percent }
        task.message = message
        task.rate = rate
        task.etaSeconds = eta
        task.error = error
        if let result, !result.isNull { task.result = result }
        task.attempt = Int(attempt)
        task.updatedAt = updated
        task.startedAt = started
        task.finishedAt = finished
        task.heartbeatAt = heartbeat
        task.timeoutSeconds = timeout
        task.stallSeconds = stall
        task.progressAt = progress
        task.seq = UInt64(seq)
        return task
    }
}

/// A cursor over a stored task's bytes. Every reader returns nil (give up: the caller parses
/// generically) rather than guess at anything unusual.
private struct LayoutReader {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0
    /// Where the last date read starts, and its day number (`day(at:)`).
    var lastDate: (at: Int, days: Int)?
    /// Where the last 26-byte time string read starts (quotes included), and its value.
    var lastTime: (at: Int, ms: Int64)?

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    var atEnd: Bool { i == bytes.count }

    /// The exact bytes of `text` (a member's key with its punctuation) next.
    mutating func key(_ text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        // One memcmp instead of a loop over the key's bytes (28 keys a task: 10 % of a restart).
        guard bytes.count - i >= n, let base = bytes.baseAddress, memcmp(base + i, text.utf8Start, n) == 0 else { return false }
        i += n
        return true
    }

    /// A status string, read as its bytes (no `String` made for it).
    mutating func status() -> TaskStatus? {
        for status in TaskStatus.allCases where key(status.quoted) { return status }
        return nil
    }

    /// `null` as `.some(nil)`, else what `read` makes of the value (nil: give up).
    mutating func nullable<T>(_ read: (inout LayoutReader) -> T?) -> T?? {
        if key("null") { return .some(nil) }
        guard let value = read(&self) else { return nil }
        return .some(value)
    }

    /// A string without escapes or control characters (anything else: give up). Bytes of 0x80
    /// and above are taken as they are: the stored JSON is what this server wrote, valid UTF-8.
    mutating func string() -> String? {
        guard let content = stringContent() else { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[content]), as: UTF8.self)
    }

    /// Where such a string's content lies (its quotes excluded); consumed with its quotes.
    private mutating func stringContent() -> Range<Int>? {
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return nil }
        let start = i + 1
        var j = start
        while j < bytes.count {
            let b = bytes[j]
            if b == UInt8(ascii: "\"") {
                i = j + 1
                return start..<j
            }
            if b == UInt8(ascii: "\\") || b < 0x20 { return nil }
            j += 1
        }
        return nil
    }

    /// The same string as its JSON bytes, quotes included (nil: give up, as `string()`).
    /// Points into the row being read, like `objectText()`.
    mutating func quotedString() -> UnsafeBufferPointer<UInt8>? {
        let start = i
        guard stringContent() != nil else { return nil }
        return UnsafeBufferPointer(rebasing: bytes[start..<i])
    }

    mutating func bool() -> Bool? {
        if key("true") { return true }
        if key("false") { return false }
        return nil
    }

    /// A number as `JSONWriter.writeNumber` writes it. Integers of up to 15 digits are exact
    /// here; anything else goes through `Double(String)`, correctly rounded like `JSONParser`.
    mutating func number() -> Double? {
        let start = i
        var j = i
        if j < bytes.count, bytes[j] == UInt8(ascii: "-") { j += 1 }
        var mantissa: Int64 = 0
        var digits = 0
        var integral = true
        while j < bytes.count {
            let b = bytes[j]
            if b &- UInt8(ascii: "0") < 10 {
                mantissa = mantissa &* 10 &+ Int64(b &- UInt8(ascii: "0"))
                digits += 1
            } else if b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E") || b == UInt8(ascii: "+")
                        || b == UInt8(ascii: "-") {
                integral = false
            } else {
                break
            }
            j += 1
        }
        guard digits > 0 else { return nil }
        i = j
        if integral && digits <= 15 {
            // No leading zeros in what JSONWriter writes ("0" alone is fine).
            guard digits == 1 || bytes[start + (bytes[start] == UInt8(ascii: "-") ? 1 : 0)] != UInt8(ascii: "0") else { return nil }
            let d = Double(mantissa)
            return bytes[start] == UInt8(ascii: "-") ? -d : d
        }
        // The general grammar and its rounding: JSONParser's own reading of the number.
        guard let value = try? JSONParser.parse(UnsafeBufferPointer(rebasing: bytes[start..<j])), let d = value.numberValue
        else { return nil }
        return d
    }

    /// An RFC 3339 time string as milliseconds. What `RFC3339.format` writes for years
    /// 0–9999, `"YYYY-MM-DDTHH:MM:SS.mmmZ"`, is read here in place, with `RFC3339.parse`'s
    /// checks; any other form goes to `RFC3339.parse` itself.
    mutating func time() -> Int64? {
        // A task's times often repeat (updated, heartbeat and progress are one moment after a
        // report): the same 26 bytes as the last time read give its value again.
        if let last = lastTime, bytes.count - i >= 26, let base = bytes.baseAddress, memcmp(base + i, base + last.at, 26) == 0 {
            i += 26
            return last.ms
        }
        let start = i
        guard let ms = readTime() else { return nil }
        if i - start == 26 { lastTime = (start, ms) }
        return ms
    }

    private mutating func readTime() -> Int64? {
        if bytes.count - i >= 26, bytes[i] == UInt8(ascii: "\""), bytes[i + 25] == UInt8(ascii: "\""),
           bytes[i + 5] == UInt8(ascii: "-"), bytes[i + 8] == UInt8(ascii: "-"), bytes[i + 11] == UInt8(ascii: "T"),
           bytes[i + 14] == UInt8(ascii: ":"), bytes[i + 17] == UInt8(ascii: ":"), bytes[i + 20] == UInt8(ascii: "."),
           bytes[i + 24] == UInt8(ascii: "Z"),
           let days = day(at: i + 1), let h = digits(i + 12, 2),
           let mi = digits(i + 15, 2), let sec = digits(i + 18, 2), let ms = digits(i + 21, 3),
           h < 24, mi < 60, sec < 61 {
            i += 26
            return Int64(days * 86_400 + h * 3600 + mi * 60 + sec) * 1000 + Int64(ms)
        }
        guard let text = string() else { return nil }
        return RFC3339.parse(text)
    }

    /// The day number of the `yyyy-mm-dd` at `at`. A task's six times mostly fall on one day:
    /// the same ten bytes as the last date read give its day again without reading them.
    private mutating func day(at: Int) -> Int? {
        if let last = lastDate, let base = bytes.baseAddress, memcmp(base + at, base + last.at, 10) == 0 { return last.days }
        guard let y = digits(at, 4), let mo = digits(at + 5, 2), let d = digits(at + 8, 2),
              (1...12).contains(mo), (1...31).contains(d) else { return nil }
        let days = HTTPDate.days(fromCivil: y, mo, d)
        lastDate = (at, days)
        return days
    }

    @inline(__always)  // constant counts: unrolled where called (24 calls a task)
    private func digits(_ at: Int, _ count: Int) -> Int? {
        var v = 0
        for k in at..<(at + count) {
            let digit = bytes[k] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            v = v * 10 + Int(digit)
        }
        return v
    }

    /// `{"code":"…","message":"…"}`.
    mutating func failure() -> TaskFailure? {
        guard key(#"{"code":"#), let code = string(), key(#","message":"#), let message = string(), key("}") else { return nil }
        return TaskFailure(code: code, message: message)
    }

    /// Any JSON value (`result`): its extent found here, its parsing left to JSONParser.
    mutating func value() -> JSONValue? {
        let start = i
        guard skipValue(), let value = try? JSONParser.parse(UnsafeBufferPointer(rebasing: bytes[start..<i])) else { return nil }
        return value
    }

    /// A JSON object (`meta`) as its text, which the record keeps as it is (empty for `{}`,
    /// which is not parsed; any other checked to be one valid object: by
    /// `JSONParser.isPlainFlatObject`, or else by `JSONParser.parse`). The
    /// buffer points into the row being read: sound because `decodeStoredLayout` runs inside
    /// `withUnsafeBufferPointer` of that row and the record's init copies the text before it
    /// returns; nothing keeps the pointer.
    mutating func objectText() -> UnsafeBufferPointer<UInt8>? {
        if key("{}") { return UnsafeBufferPointer(rebasing: bytes[i..<i]) }
        let start = i
        guard i < bytes.count, bytes[i] == UInt8(ascii: "{"), skipValue() else { return nil }
        let text = UnsafeBufferPointer(rebasing: bytes[start..<i])
        // Most `meta` is a few plain members: checked in one pass without a tree (6 % of a restart).
        if JSONParser.isPlainFlatObject(text) { return text }
        guard let value = try? JSONParser.parse(text), case .object = value else { return nil }
        return text
    }

    /// Moves past one value: strings (escapes included), nested objects and arrays, scalars.
    /// Only finds the extent; JSONParser then checks the value itself.
    mutating func skipValue() -> Bool {
        var depth = 0
        while i < bytes.count {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\""):
                i += 1
                while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
                    i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1
                }
                guard i < bytes.count else { return false }
                i += 1
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard depth > 0 else { return false }
                depth -= 1
                i += 1
            case UInt8(ascii: ","):
                if depth == 0 { return true }
                i += 1
            default:
                i += 1
            }
            if depth == 0 && b != UInt8(ascii: ",") {
                // A closed container or string at the top: the value ends here. A scalar runs
                // on until the comma or brace after it.
                if b == UInt8(ascii: "}") || b == UInt8(ascii: "]") || b == UInt8(ascii: "\"") { return true }
            }
        }
        return depth == 0
    }
}

private extension TaskStatus {
    /// The status as a JSON string, quotes included.
    var quoted: StaticString {
        switch self {
        case .queued: #""queued""#
        case .running: #""running""#
        case .succeeded: #""succeeded""#
        case .failed: #""failed""#
        case .cancelling: #""cancelling""#
        case .cancelled: #""cancelled""#
        }
    }
}
