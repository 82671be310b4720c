import HeraldWire

/// A task's error as reported by its worker or the server (`lease_expired`).
public struct TaskFailure: Sendable, Equatable {
    public var code: String
    public var message: String
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}

/// `done` at a moment (ms), for the rate.
struct RateSample: Sendable, Equatable {
    var at: Int64
    var done: Double
}

/// One task, as the contract's task object plus what the server needs to compute `rate`.
/// Times are milliseconds since 1970 (wall clock: leases survive a restart).
///
/// Laid out for 100,000 held tasks (issue 18): the optional numbers and times are stored in 8
/// bytes each (`PackedDouble`, `PackedTime`) where `Double?`/`Int64?` take 9, padded to 16, and
/// the rare `error` and `result` are boxed (8 bytes where they took 32 and 24). The record went
/// from 360 to 240 bytes; the public API is unchanged (computed properties over the packing).
public struct TaskRecord: Sendable, Equatable {
    public var id: String
    /// The title when Swift keeps it inline (at most 15 UTF-8 bytes: no heap allocation), else
    /// "" and the title is at the start of `texts`.
    private var shortTitle: String
    public var owner: String?
    public var message = ""
    /// `error`, `result`, `timeout_s` and `stall_s`, rarely set, behind one pointer (nil when
    /// none is): 8 bytes in every record instead of 32, which brings the table's box chunk
    /// from 272 to 256 bytes (issue 18).
    private var rare: Boxed<RareFields>?
    /// A longer title as the JSON string it is served as (quotes and escapes included), then
    /// `meta` as the JSON text it is served as (nothing for `{}`): the record's two free texts
    /// in one heap allocation instead of two (a title over 15 bytes is a heap string of its
    /// own; issue 18: −48 bytes per task with a title and meta). Both are only ever written
    /// out as they are, so they are kept as their JSON.
    private var texts: [UInt8]
    /// Recent (time, done) samples the rate is computed from (not part of the JSON).
    var rateSamples: [RateSample] = []
    public var done: Double = 0
    private var storedTotal = PackedDouble(nil)
    private var storedDirectPercent = PackedDouble(nil)
    private var storedRate = PackedDouble(nil)
    private var storedEta = PackedDouble(nil)
    public var leaseSeconds: Double
    public var expireSeconds: Double
    public var createdAt: Int64
    public var updatedAt: Int64
    private var storedStartedAt = PackedTime(nil)
    private var storedFinishedAt = PackedTime(nil)
    private var storedHeartbeatAt = PackedTime(nil)
    private var storedProgressAt = PackedTime(nil)
    public var attempt = 1
    public var seq: UInt64 = 0
    public var status: TaskStatus = .queued
    public var stale = false

    public var title: String {
        get {
            let end = titleEnd
            guard end > 0 else { return shortTitle }
            let inner = texts[1..<(end - 1)]
            if !inner.contains(UInt8(ascii: "\\")) { return String(decoding: inner, as: UTF8.self) }
            return (try? JSONParser.parse(Array(texts[0..<end])))?.stringValue ?? ""
        }
        set { setTexts(title: newValue, metaJSON: metaJSON) }
    }

    public var meta: JSONObject {
        get { metaJSON.isEmpty ? JSONObject() : ((try? JSONParser.parse(Array(metaJSON)))?.objectValue ?? JSONObject()) }
        set { replaceMetaJSON(newValue.isEmpty ? [] : JSONWriter.encode(.object(newValue))[...]) }
    }

    /// Sets `meta` from its JSON text as `JSONWriter` wrote it (a stored task being read back).
    mutating func setMetaJSON(_ json: [UInt8]) {
        replaceMetaJSON(json == Self.emptyObject ? [] : json[...])
    }

    /// Keeps the title's bytes as they are and puts `metaJSON` after them.
    private mutating func replaceMetaJSON(_ metaJSON: ArraySlice<UInt8>) {
        let end = titleEnd
        if end == 0 { texts = Array(metaJSON); return }
        var new: [UInt8] = []
        new.reserveCapacity(end + metaJSON.count)
        new.append(contentsOf: texts[0..<end])
        new.append(contentsOf: metaJSON)
        texts = new
    }

    /// `meta`'s JSON text ([] for `{}`).
    var metaJSON: ArraySlice<UInt8> { texts[titleEnd...] }

    /// The end of the long title's JSON string in `texts` (0 when the title is short): the
    /// first quote after the opening one that no backslash escapes (JSONWriter's escapes are
    /// a backslash and one character, or `\uXXXX`, whose hex digits are no quote).
    var titleEnd: Int {
        guard texts.first == UInt8(ascii: "\"") else { return 0 }
        var i = 1
        while i < texts.count {
            switch texts[i] {
            case UInt8(ascii: "\\"): i += 2
            case UInt8(ascii: "\""): return i + 1
            default: i += 1
            }
        }
        preconditionFailure("a long title's JSON string is closed")
    }

    /// The title's JSON string (for the encoder): the kept bytes of a long title.
    func writeTitle(into out: inout [UInt8]) {
        let end = titleEnd
        if end > 0 { out.append(contentsOf: texts[0..<end]) } else { JSONWriter.writeString(shortTitle, into: &out) }
    }

    private mutating func setTexts(title: String, metaJSON: ArraySlice<UInt8>) {
        (shortTitle, texts) = Self.texts(title: title, metaJSON: metaJSON)
    }

    private static func texts(title: String, metaJSON: some Collection<UInt8>) -> (String, [UInt8]) {
        if title.utf8.count <= 15 { return (title, Array(metaJSON)) }
        var texts: [UInt8] = []
        texts.reserveCapacity(title.utf8.count + 2 + metaJSON.count)
        JSONWriter.writeString(title, into: &texts)
        texts.append(contentsOf: metaJSON)
        return ("", texts)
    }

    static let emptyObject: [UInt8] = Array("{}".utf8)

    public var total: Double? {
        get { storedTotal.value }
        set { storedTotal = PackedDouble(newValue) }
    }
    /// Set directly only while `total` is unknown; otherwise derived from done/total.
    public var directPercent: Double? {
        get { storedDirectPercent.value }
        set { storedDirectPercent = PackedDouble(newValue) }
    }
    public var rate: Double? {
        get { storedRate.value }
        set { storedRate = PackedDouble(newValue) }
    }
    public var etaSeconds: Double? {
        get { storedEta.value }
        set { storedEta = PackedDouble(newValue) }
    }
    public var error: TaskFailure? {
        get { rare?.value.error }
        set { updateRare { $0.error = newValue } }
    }
    public var result: JSONValue? {
        get { rare?.value.result }
        set { updateRare { $0.result = newValue } }
    }
    /// `timeout_s` and `stall_s` (nil: none); see TaskRecord+Deadlines.
    public var timeoutSeconds: Double? {
        get { rare?.value.timeout.value }
        set { updateRare { $0.timeout = PackedDouble(newValue) } }
    }
    public var stallSeconds: Double? {
        get { rare?.value.stall.value }
        set { updateRare { $0.stall = PackedDouble(newValue) } }
    }
    public var startedAt: Int64? {
        get { storedStartedAt.value }
        set { storedStartedAt = PackedTime(newValue) }
    }
    public var finishedAt: Int64? {
        get { storedFinishedAt.value }
        set { storedFinishedAt = PackedTime(newValue) }
    }
    public var heartbeatAt: Int64? {
        get { storedHeartbeatAt.value }
        set { storedHeartbeatAt = PackedTime(newValue) }
    }
    /// When done, percent or message last changed in this attempt (heartbeats do not count).
    public var progressAt: Int64? {
        get { storedProgressAt.value }
        set { storedProgressAt = PackedTime(newValue) }
    }

    public init(id: String, title: String, owner: String?, total: Double?, leaseSeconds: Double, expireSeconds: Double,
                meta: JSONObject, now: Int64) {
        self.init(id: id, title: title, owner: owner, total: total, leaseSeconds: leaseSeconds, expireSeconds: expireSeconds,
                  metaJSON: meta.isEmpty ? [] : JSONWriter.encode(.object(meta))[...], now: now)
    }

    /// With `meta` as JSON text as `JSONWriter` wrote it ([] for `{}`): a stored task read back,
    /// its texts put in their buffer once.
    init(id: String, title: String, owner: String?, total: Double?, leaseSeconds: Double, expireSeconds: Double,
         metaJSON: some Collection<UInt8>, now: Int64) {
        self.init(id: id, texts: Self.texts(title: title, metaJSON: metaJSON), owner: owner, total: total,
                  leaseSeconds: leaseSeconds, expireSeconds: expireSeconds, now: now)
    }

    /// A stored task read back, with its title as the JSON string it was stored as: quotes
    /// included, no escapes in it (the caller's check), so these are the bytes
    /// `JSONWriter.writeString` makes of the title — a long title is kept as they are, not
    /// made into a `String` and written out again. One that holds a 0xE2 byte (U+2028/9 are
    /// escaped by this version's writer, maybe not by the one that stored it) is rewritten.
    init(id: String, titleJSON: UnsafeBufferPointer<UInt8>, owner: String?, total: Double?, leaseSeconds: Double,
         expireSeconds: Double, metaJSON: UnsafeBufferPointer<UInt8>, now: Int64) {
        let title = UnsafeBufferPointer(rebasing: titleJSON[1..<(titleJSON.count - 1)])
        let texts: (String, [UInt8])
        if title.count > 15 && !title.contains(0xE2) {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(titleJSON.count + metaJSON.count)
            bytes.append(contentsOf: titleJSON)
            bytes.append(contentsOf: metaJSON)
            texts = ("", bytes)
        } else {
            texts = Self.texts(title: String(decoding: title, as: UTF8.self), metaJSON: metaJSON)
        }
        self.init(id: id, texts: texts, owner: owner, total: total, leaseSeconds: leaseSeconds,
                  expireSeconds: expireSeconds, now: now)
    }

    private init(id: String, texts: (String, [UInt8]), owner: String?, total: Double?, leaseSeconds: Double,
                 expireSeconds: Double, now: Int64) {
        self.id = id
        (shortTitle, self.texts) = texts
        self.owner = owner
        storedTotal = PackedDouble(total)
        self.leaseSeconds = leaseSeconds
        self.expireSeconds = expireSeconds
        createdAt = now
        updatedAt = now
    }

    /// 0–100 from done/total when the total is known, else what the worker set, else nil.
    public var percent: Double? {
        if let total {
            guard total > 0 else { return done > 0 ? 100 : 0 }
            return min(100, max(0, done / total * 100))
        }
        return directPercent
    }

    /// When the lease runs out (ms), for tasks that hold one.
    var leaseDeadline: Int64? {
        guard status.holdsLease, let last = heartbeatAt ?? startedAt else { return nil }
        return last + Int64(leaseSeconds * 1000)
    }

    var expiryDeadline: Int64? {
        guard status.holdsLease, let last = heartbeatAt ?? startedAt else { return nil }
        return last + Int64(expireSeconds * 1000)
    }

    /// The topics this task's events belong to.
    var topics: [TaskTopic] {
        var topics: [TaskTopic] = [.all, .task(id)]
        if let owner { topics.append(.owner(owner)) }
        return topics
    }
}

extension TaskRecord {
    /// The fields most tasks never set (`rare`); all nil is no box at all, so equal records
    /// compare equal whichever way they got there.
    struct RareFields: Sendable, Equatable {
        var error: TaskFailure?
        var result: JSONValue?
        var timeout = PackedDouble(nil)
        var stall = PackedDouble(nil)

        var isEmpty: Bool { error == nil && result == nil && timeout.value == nil && stall.value == nil }
    }

    /// Changes the rare fields through a new box (boxes are immutable: copies of a record share
    /// them), or none when nothing is left set.
    private mutating func updateRare(_ change: (inout RareFields) -> Void) {
        var fields = rare?.value ?? RareFields()
        change(&fields)
        rare = fields.isEmpty ? nil : Boxed(fields)
    }
}

/// A `Double?` in 8 bytes: nil is one NaN bit pattern (a quiet NaN with a payload). Nothing
/// stores that pattern as a number: JSON has no NaN, and arithmetic makes the default NaN
/// (payload 0), which is kept as the number it is, exactly as `Double?` kept it.
struct PackedDouble: Sendable, Equatable {
    static let noneBits: UInt64 = 0x7FF8_4E4F_4E45_0001  // "NONE" in a quiet NaN's payload
    private var bits: UInt64

    init(_ value: Double?) { bits = value.map(\.bitPattern) ?? Self.noneBits }

    var value: Double? { bits == Self.noneBits ? nil : Double(bitPattern: bits) }

    /// As `Double?` compares (0 equals -0, NaN equals nothing).
    static func == (lhs: PackedDouble, rhs: PackedDouble) -> Bool { lhs.value == rhs.value }
}

/// An `Int64?` time in 8 bytes: nil is `Int64.min` (no time in milliseconds since 1970 is
/// 292 million years before it; `RFC3339.parse` reads 4-digit years only).
struct PackedTime: Sendable, Equatable {
    private var raw: Int64

    init(_ value: Int64?) { raw = value ?? .min }

    var value: Int64? { raw == .min ? nil : raw }
}

/// A rarely set value behind one pointer (`error`, `result`): 8 bytes in every record instead
/// of its full size. Immutable, so sharing it between copies of a record is safe.
final class Boxed<Value: Sendable & Equatable>: Sendable, Equatable {
    let value: Value

    init(_ value: Value) { self.value = value }

    static func == (lhs: Boxed, rhs: Boxed) -> Bool { lhs === rhs || lhs.value == rhs.value }
}
