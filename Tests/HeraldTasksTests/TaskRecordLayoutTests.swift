import Foundation
import HeraldStore
import HeraldWire
import Testing
@testable import HeraldTasks

/// The memory layout of a record (issue 18) and the one-pass reading of stored tasks at a
/// restart: neither may change what a task is or how it is served.
@Suite struct TaskRecordLayoutTests {
    static let now: Int64 = 1_800_000_000_000

    /// Records covering every field set and unset, strings that need escapes, non-ASCII text,
    /// fractional numbers, nested meta and results, and every status.
    static func samples() throws -> [TaskRecord] {
        var out: [TaskRecord] = []
        var plain = TaskRecord(id: "t1", title: "export batch 1", owner: nil, total: nil, leaseSeconds: 30, expireSeconds: 300,
                               meta: JSONObject(), now: now)
        out.append(plain)
        plain.seq = 7
        _ = try plain.start(now: now + 10)
        out.append(plain)
        var full = TaskRecord(id: "x-2", title: "Bericht für Q3 — «quoted» \"and\" \\ back\nline", owner: "alice", total: 1000,
                              leaseSeconds: 12.5, expireSeconds: 125, meta: JSONObject([("source", .string("bench")),
                              ("n", .number(1.25)), ("nested", .object(JSONObject([("a", .array([.null, .bool(true), .number(-3)]))])))]),
                              now: now)
        full.timeoutSeconds = 3600
        full.stallSeconds = 0.5
        _ = try full.start(now: now + 1)
        _ = try full.report(ProgressInput(done: 333.3, message: "copying \"x\" ✓"), now: now + 700)
        _ = try full.report(ProgressInput(done: 500, message: "half way"), now: now + 1_900)
        full.seq = 9_007_199_254_740_000
        out.append(full)
        var succeeded = full
        _ = try succeeded.complete(message: "done", result: .object(JSONObject([("url", .string("https://e.x/r/1?a=b&c=\"d\""))])),
                                   now: now + 5_000)
        out.append(succeeded)
        var failed = full
        _ = try failed.fail(TaskFailure(code: "disk_full", message: "no space left on /dev/sda1 \"root\""), now: now + 6_000)
        out.append(failed)
        var percent = TaskRecord(id: "p", title: "p", owner: "bob", total: nil, leaseSeconds: 30, expireSeconds: 300,
                                 meta: JSONObject([("k", .string("v"))]), now: now)
        _ = try percent.start(now: now)
        _ = try percent.report(ProgressInput(percent: 42.125), now: now + 300)
        percent.stale = true
        out.append(percent)
        var cancelled = TaskRecord(id: "c", title: "c", owner: "bob", total: 0, leaseSeconds: 30, expireSeconds: 300,
                                   meta: JSONObject(), now: now)
        _ = try cancelled.cancel(now: now + 1)
        _ = try cancelled.retry(now: now + 2)
        out.append(cancelled)
        return out
    }

    @Test func storedLayoutReadsBackWhatTheGenericDecoderReads() throws {
        for record in try Self.samples() {
            let json = record.json
            let generic = try #require(TaskRecord.decode(JSONParser.parse(json)))
            let decoded = try #require(TaskRecord.decode(json: json))
            #expect(decoded == generic, "\(String(decoding: json, as: UTF8.self))")
            // Served bytes are the same after a restart.
            #expect(decoded.json == json)
        }
    }

    /// A task's times on different days, months and years (and one on the day before): the
    /// one-pass reading reuses a day only for the same ten date bytes.
    @Test func timesOnDifferentDaysReadBackExactly() throws {
        let day: Int64 = 86_400_000
        let newYearsEve: Int64 = 1_798_761_599_999  // 2026-12-31T23:59:59.999Z
        for (created, step) in [(newYearsEve, Int64(1)), (newYearsEve - day, day), (Self.now, 31 * day), (Self.now, 400 * day)] {
            var task = TaskRecord(id: "d", title: "days", owner: nil, total: 10, leaseSeconds: 30, expireSeconds: 300,
                                  meta: JSONObject(), now: created)
            _ = try task.start(now: created + step)
            _ = try task.report(ProgressInput(done: 1, message: ""), now: created + 2 * step)
            _ = try task.complete(message: nil, result: nil, now: created + 3 * step)
            let json = task.json
            let fast = try #require(json.withUnsafeBufferPointer { TaskRecord.decodeStoredLayout($0) })
            #expect(fast == TaskRecord.decode(try JSONParser.parse(json)), "\(String(decoding: json, as: UTF8.self))")
            #expect(fast.json == json)
            #expect(fast.createdAt == created && fast.startedAt == created + step && fast.finishedAt == created + 3 * step)
        }
    }

    @Test func theOnePassReadingIsTakenForTasksWithoutEscapes() throws {
        for record in try Self.samples() where !record.title.contains("\"") && !record.message.contains("\"")
            && !(record.error?.message.contains("\"") ?? false) {
            let json = record.json
            let fast = json.withUnsafeBufferPointer { TaskRecord.decodeStoredLayout($0) }
            #expect(fast != nil, "\(String(decoding: json, as: UTF8.self))")
            #expect(fast == TaskRecord.decode(try JSONParser.parse(json)))
        }
    }

    /// Titles around the 15-byte inline limit, non-ASCII ones, and one holding U+2028 raw (as a
    /// writer that did not escape it would have stored it): a long title is kept as its stored
    /// bytes only when they are what this version's writer makes of it.
    @Test func titlesReadBackAsTheGenericDecoderReadsThemAndServeTheSameBytes() throws {
        let titles = ["fifteen bytes!!", "sixteen bytes!!!", "a title long enough to need the heap", "Übersicht März 2027 ✓",
                      "line\u{2028}separator in a long title", "para\u{2029}", "€€€€€€"]
        for title in titles {
            let task = TaskRecord(id: "t", title: title, owner: "o", total: 3, leaseSeconds: 30, expireSeconds: 300,
                                  meta: JSONObject([("k", .string("v"))]), now: Self.now)
            var variants = [task.json]
            // The same task as stored by a writer that left U+2028/9 unescaped.
            let raw = String(decoding: task.json, as: UTF8.self)
                .replacingOccurrences(of: "\\u2028", with: "\u{2028}").replacingOccurrences(of: "\\u2029", with: "\u{2029}")
            if Array(raw.utf8) != task.json { variants.append(Array(raw.utf8)) }
            for json in variants {
                // Escaped (`\u2028`) in the JSON: the generic reading's, else the one pass's.
                if !json.contains(UInt8(ascii: "\\")) {
                    #expect(json.withUnsafeBufferPointer { TaskRecord.decodeStoredLayout($0) } != nil, "\(title)")
                }
                let fast = try #require(TaskRecord.decode(json: json), "\(title)")
                let generic = try #require(TaskRecord.decode(JSONParser.parse(json)))
                #expect(fast == generic && fast.title == title, "\(title)")
                #expect(fast.json == task.json, "\(title)")
            }
        }
    }

    /// Every status is read by the one-pass reading (statuses are matched as bytes there).
    @Test func everyStatusIsReadInOnePass() throws {
        let task = TaskRecord(id: "s", title: "status", owner: nil, total: nil, leaseSeconds: 30, expireSeconds: 300,
                              meta: JSONObject(), now: Self.now)
        let text = String(decoding: task.json, as: UTF8.self)
        for status in TaskStatus.allCases {
            let json = Array(text.replacingOccurrences(of: #""status":"queued""#, with: #""status":"\#(status.rawValue)""#).utf8)
            let fast = try #require(json.withUnsafeBufferPointer { TaskRecord.decodeStoredLayout($0) })
            let generic = TaskRecord.decode(try JSONParser.parse(json))
            #expect(fast.status == status && fast == generic)
        }
        for unknown in ["cancel", "runningg", "Queued", ""] {
            let json = Array(text.replacingOccurrences(of: #""status":"queued""#, with: #""status":"\#(unknown)""#).utf8)
            #expect(json.withUnsafeBufferPointer { TaskRecord.decodeStoredLayout($0) } == nil, "\(unknown)")
        }
    }

    @Test func otherOrdersAndOlderTasksFallBackToTheGenericDecoder() throws {
        // Written before the deadline fields existed, members in another order.
        let old = #"{"title":"t","id":"o","owner":null,"status":"running","stale":false,"done":1,"total":2,"percent":50,"message":"","rate":null,"eta_s":null,"error":null,"result":null,"attempt":1,"lease_s":30,"created_at":"2027-01-15T08:00:00.000Z","updated_at":"2027-01-15T08:00:00.000Z","started_at":"2027-01-15T08:00:00.000Z","finished_at":null,"heartbeat_at":"2027-01-15T08:00:00.000Z","meta":{},"seq":3}"#
        let bytes = Array(old.utf8)
        #expect(bytes.withUnsafeBufferPointer { TaskRecord.decodeStoredLayout($0) } == nil)
        let task = try #require(TaskRecord.decode(json: bytes))
        #expect(task == TaskRecord.decode(try JSONParser.parse(bytes)))
        #expect(task.expireSeconds == 300 && task.timeoutSeconds == nil && task.seq == 3)
        #expect(TaskRecord.decode(json: Array("{\"id\":".utf8)) == nil)
        #expect(TaskRecord.decode(json: []) == nil)
    }

    @Test func packedOptionalsKeepNilZeroNegativeZeroAndNaN() {
        #expect(PackedDouble(nil).value == nil)
        #expect(PackedDouble(0).value == 0)
        #expect(PackedDouble(-0.0).value?.sign == .minus)
        #expect(PackedDouble(.infinity).value == .infinity)
        #expect(PackedDouble(.nan).value?.isNaN == true)
        #expect(PackedDouble(0.0 / 0.0 * 1).value?.isNaN == true)
        #expect(PackedDouble(0) == PackedDouble(-0.0) && PackedDouble(.nan) != PackedDouble(.nan))
        #expect(PackedTime(nil).value == nil && PackedTime(0).value == 0 && PackedTime(-1).value == -1)
        var t = TaskRecord(id: "t", title: "t", owner: nil, total: nil, leaseSeconds: 1, expireSeconds: 1, meta: JSONObject(), now: 5)
        t.rate = 2.5
        t.rate = nil
        t.startedAt = 0
        t.error = TaskFailure(code: "c", message: "m")
        var copy = t
        copy.error = nil
        #expect(t.rate == nil && t.startedAt == 0 && t.error?.code == "c" && copy.error == nil && copy != t)
        // The table's box is a 16-byte object header, the record and an 8-byte JSON reference:
        // at most 248 bytes is glibc's 256-byte chunk (272 from 249 on).
        #expect(MemoryLayout<TaskRecord>.size <= 224)
    }

    /// `error`, `result`, `timeout_s` and `stall_s` share one box: each set and cleared alone
    /// leaves the others, and a record whose rare fields are all cleared again equals one that
    /// never had any.
    @Test func rareFieldsSetAndClearedAlone() {
        let plain = TaskRecord(id: "r", title: "r", owner: nil, total: nil, leaseSeconds: 30, expireSeconds: 300,
                               meta: JSONObject(), now: Self.now)
        var t = plain
        t.timeoutSeconds = 60
        t.stallSeconds = 0
        t.error = TaskFailure(code: "c", message: "m")
        t.result = .object(JSONObject([("k", .number(1))]))
        let copy = t
        #expect(t.timeoutSeconds == 60 && t.stallSeconds == 0 && t.error?.code == "c" && t.result?.objectValue?["k"] == .number(1))
        t.stallSeconds = nil
        #expect(t.stallSeconds == nil && t.timeoutSeconds == 60 && t.error != nil && t.result != nil)
        t.error = nil
        #expect(t.error == nil && t.result != nil && t.timeoutSeconds == 60)
        t.result = .null  // a value, not "none"
        #expect(t.result == .null && t != plain)
        t.result = nil
        #expect(t != plain)
        t.timeoutSeconds = nil
        #expect(t == plain && t.json == plain.json)
        #expect(copy.stallSeconds == 0 && copy.error?.code == "c")  // a copy keeps its own
    }

    /// A finished task keeps no JSON: what it is served with is written again from the record,
    /// and is byte for byte what it was answered with when it finished.
    @Test func finishedTasksAreServedTheBytesTheyFinishedWith() async throws {
        let hub = TaskHub(clock: { Self.now })
        _ = await hub.handle([.operation(.create(CreateInput(id: "a", title: "A é \"q\"", owner: "o", total: 10, leaseSeconds: 30,
                                                              expireSeconds: 300, meta: JSONObject([("k", .number(1.5))]))))])
        _ = await hub.handle([.operation(.start(id: "a"))])
        let outputs = await hub.handle([.operation(.complete(id: "a", message: "ok", result: .string("r")))])
        var finishedJSON: [UInt8]?
        for case .reply(_, .task(let json, _, .succeeded)) in outputs { finishedJSON = json }
        let answered = try #require(finishedJSON)
        var served: [UInt8]?
        for case .reply(_, .task(let json, _, _)) in await hub.handle([.get(id: "a")]) { served = json }
        #expect(served == answered)
        #expect(await hub.keptJSON("a") == nil)
        _ = await hub.handle([.operation(.create(CreateInput(id: "b", title: "B", owner: nil, total: nil, leaseSeconds: 30,
                                                              expireSeconds: 300, meta: JSONObject())))])
        #expect(await hub.keptJSON("b") != nil)
    }
}

extension TaskHub {
    /// The JSON the table keeps for the task (nil: none kept, or no such task).
    func keptJSON(_ id: String) -> [UInt8]? { tasks.box(id)?.json }
}
