import HeraldWire
import Testing
@testable import HeraldTasks

/// `timeout_s` and `stall_s` in a create body: positive finite seconds up to 30 days, `null`
/// for none, absent for the server's default; anything else is refused before the actor sees it.
@Suite struct TaskValidationDeadlineTests {
    static func create(_ fields: String) throws(TaskError) -> CreateInput {
        try TaskValidation.create(Array("{\"title\":\"t\"\(fields)}".utf8))
    }

    static func refusal(_ fields: String) -> TaskError? {
        do { _ = try create(fields) } catch { return error }
        return nil
    }

    @Test(arguments: ["timeout_s", "stall_s"])
    func thirtyDaysIsTheLongestDeadlineAndOneMillisecondMoreIsRefused(field: String) throws {
        #expect(TaskValidation.maxDeadlineSeconds == 2_592_000)
        let input = try Self.create(",\"\(field)\":2592000")
        #expect((field == "timeout_s" ? input.timeout : input.stall) == .seconds(2_592_000))
        let error = Self.refusal(",\"\(field)\":2592000.001")
        #expect(error?.status == 400 && error?.code == "invalid_field")
        #expect(error?.message.contains(field) == true && error?.message.contains("2592000") == true)
    }

    @Test(arguments: ["timeout_s", "stall_s"])
    func theSmallestPositiveDeadlineIsAccepted(field: String) throws {
        let input = try Self.create(",\"\(field)\":0.001")
        #expect((field == "timeout_s" ? input.timeout : input.stall) == .seconds(0.001))
    }

    @Test(arguments: [("0", "invalid_field"), ("-1", "invalid_field"), ("-0.0", "invalid_field"), ("\"60\"", "invalid_field"),
                      ("\"NaN\"", "invalid_field"), ("true", "invalid_field"), ("[60]", "invalid_field"), ("{}", "invalid_field"),
                      ("1e9", "invalid_field"), ("NaN", "invalid_json"), ("Infinity", "invalid_json"), ("1e999", "invalid_json")])
    func badDeadlinesAreRefusedWith400(value: String, code: String) {
        for field in ["timeout_s", "stall_s"] {
            let error = Self.refusal(",\"\(field)\":\(value)")
            #expect(error?.status == 400 && error?.code == code, "\(field): \(value) → \(String(describing: error))")
        }
    }

    @Test func absentMeansTheServerDefaultAndNullMeansNone() throws {
        let absent = try Self.create("")
        #expect(absent.timeout == .serverDefault && absent.stall == .serverDefault)
        let null = try Self.create(#","timeout_s":null,"stall_s":null"#)
        #expect(null.timeout == .off && null.stall == .off)
        #expect(DeadlineSetting.serverDefault.resolved(default: 60) == 60)
        #expect(DeadlineSetting.off.resolved(default: 60) == nil)
        #expect(DeadlineSetting.seconds(5).resolved(default: 60) == 5)
        #expect(DeadlineSetting.serverDefault.resolved(default: nil) == nil)
    }

    @Test func theServerFlagsFollowTheSameRule() {
        for good in [0.001, 1, 3_600, 2_592_000] { #expect(TaskValidation.isValidDeadline(good)) }
        for bad in [0, -1, 2_592_000.001, .infinity, .nan] { #expect(!TaskValidation.isValidDeadline(bad), "\(bad)") }
    }

    @Test func anEncodedTaskKeepsItsDeadlinesAndProgressTime() throws {
        var t = TaskRecord(id: "t", title: "T", owner: nil, total: nil, leaseSeconds: 30, expireSeconds: 300, meta: JSONObject(),
                           now: 1_800_000_000_000)
        t.timeoutSeconds = 3_600
        t.stallSeconds = 1.5
        _ = try t.start(now: 1_800_000_000_000)
        _ = try t.report(ProgressInput(done: 2), now: 1_800_000_001_234)
        let object = try #require(try JSONParser.parse(t.json).objectValue)
        #expect(object["timeout_s"]?.numberValue == 3_600 && object["stall_s"]?.numberValue == 1.5)
        #expect(object["progress_at"]?.stringValue == "2027-01-15T08:00:01.234Z")
        let back = try #require(TaskRecord.decode(.object(object)))
        #expect(back.timeoutSeconds == 3_600 && back.stallSeconds == 1.5 && back.progressAt == 1_800_000_001_234)
        #expect(back.stallDeadline == 1_800_000_002_734 && back.timeoutDeadline == 1_800_003_600_000)
    }

    @Test func aTaskStoredBeforeDeadlinesExistedDecodesWithoutThem() throws {
        let t = TaskRecord(id: "t", title: "T", owner: nil, total: nil, leaseSeconds: 30, expireSeconds: 300, meta: JSONObject(), now: 0)
        guard case .object(var object) = try JSONParser.parse(t.json) else { Issue.record("not an object"); return }
        for key in ["timeout_s", "stall_s", "progress_at"] { object[key] = nil }
        let back = try #require(TaskRecord.decode(.object(object)))
        #expect(back.timeoutSeconds == nil && back.stallSeconds == nil && back.progressAt == nil)
    }
}
