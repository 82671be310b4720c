import HeraldWire
import Testing
@testable import HeraldTasks

@Suite struct TaskValidationTests {
    static func create(_ json: String) throws(TaskError) -> CreateInput { try TaskValidation.create(Array(json.utf8)) }

    static func refusal(_ body: () throws(TaskError) -> Void) -> TaskError? {
        do { try body() } catch { return error }
        return nil
    }

    @Test func idsFollowTheContract() {
        #expect(TaskValidation.isValidID("a"))
        #expect(TaskValidation.isValidID("build-7.v2:x_y"))
        #expect(TaskValidation.isValidID(String(repeating: "a", count: 128)))
        #expect(!TaskValidation.isValidID(String(repeating: "a", count: 129)))
        for bad in ["", ".", "..", "a/b", "a b", "é", "a%2f", "a\u{0}"] { #expect(!TaskValidation.isValidID(bad), "\(bad)") }
    }

    @Test func ownersFollowTheContract() {
        #expect(TaskValidation.isValidOwner(String(repeating: "o", count: 64)))
        #expect(!TaskValidation.isValidOwner(String(repeating: "o", count: 65)))
        #expect(!TaskValidation.isValidOwner("a:b"))
        #expect(!TaskValidation.isValidOwner(""))
    }

    @Test func createTakesDefaultsAndIgnoresUnknownFields() throws {
        let input = try Self.create(#"{"title":"Export","unknown":[1,2],"total":10}"#)
        #expect(input.title == "Export" && input.total == 10 && input.id == nil && input.owner == nil)
        #expect(input.leaseSeconds == 30 && input.expireSeconds == 300)
    }

    @Test func titleAtTheLimitPassesAndOneMoreIsRefused() throws {
        _ = try Self.create("{\"title\":\"\(String(repeating: "t", count: 200))\"}")
        let error = Self.refusal { () throws(TaskError) in _ = try Self.create("{\"title\":\"\(String(repeating: "t", count: 201))\"}") }
        #expect(error?.code == "invalid_field" && error?.status == 400)
    }

    @Test func metaAtFourKiBEncodedPassesAndOneByteMoreIsRefused() throws {
        // {"x":"…"} is 8 bytes around the string.
        let fits = String(repeating: "m", count: 4096 - 8)
        _ = try Self.create("{\"title\":\"t\",\"meta\":{\"x\":\"\(fits)\"}}")
        let error = Self.refusal { () throws(TaskError) in _ = try Self.create("{\"title\":\"t\",\"meta\":{\"x\":\"\(fits)m\"}}") }
        #expect(error?.code == "invalid_field")
        #expect(error?.message.contains("meta") == true)
    }

    @Test(arguments: [
        (#"not json"#, "invalid_json"), (#"[1]"#, "invalid_json"), (#"{"title":"a","title":"b"}"#, "invalid_json"),
        (#"{}"#, "missing_field"), (#"{"title":5}"#, "invalid_field"), (#"{"title":"t","total":-1}"#, "invalid_field"),
        (#"{"title":"t","total":"5"}"#, "invalid_field"), (#"{"title":"t","total":1e999}"#, "invalid_json"),
        (#"{"title":"t","total":NaN}"#, "invalid_json"), (#"{"title":"t","id":".."}"#, "invalid_field"),
        (#"{"title":"t","id":7}"#, "invalid_field"), (#"{"title":"t","owner":"a b"}"#, "invalid_field"),
        (#"{"title":"t","lease_s":0.05}"#, "invalid_field"), (#"{"title":"t","lease_s":10,"expire_s":5}"#, "invalid_field"),
        (#"{"title":"t","meta":[1]}"#, "invalid_field"),
    ])
    func badCreateBodiesGetTheContractCode(_ body: String, _ code: String) {
        let error = Self.refusal { () throws(TaskError) in _ = try Self.create(body) }
        #expect(error?.code == code, "\(body) → \(String(describing: error))")
        #expect(error?.status == 400)
    }

    @Test func progressFieldsAreChecked() throws {
        let ok = try TaskValidation.progress(Array(#"{"done":5,"total":null,"percent":100,"message":"m"}"#.utf8))
        #expect(ok.done == 5 && ok.total == .some(nil) && ok.percent == 100 && ok.message == "m")
        for body in [#"{"percent":101}"#, #"{"done":-1}"#, #"{"done":"1"}"#, "{\"message\":\"\(String(repeating: "x", count: 1025))\"}"] {
            let error = Self.refusal { () throws(TaskError) in _ = try TaskValidation.progress(Array(body.utf8)) }
            #expect(error?.code == "invalid_field", "\(body)")
        }
        _ = try TaskValidation.progress(Array("{\"message\":\"\(String(repeating: "x", count: 1024))\"}".utf8))
        _ = try TaskValidation.progress([])  // an empty body is {}
    }

    /// The plain progress reader (issue 18) reads what it accepts exactly as the general path
    /// does, and leaves everything else to it: the usual bodies, every field, nulls, limits,
    /// and bodies just off the plain shape (escapes, fractions, signs, repeats, bad JSON).
    @Test func thePlainProgressReaderAgreesWithTheGeneralPath() throws {
        let long = String(repeating: "x", count: 1024)
        let plain = [
            #"{"done":5,"message":"@@1733300000123"}"#, #"{"done":0}"#, "{}", " { } ", #"{"done":123456789012345}"#,
            #"{"done":5,"total":null,"percent":100,"message":"m"}"#, #"{"total":10}"#, #"{"percent":0}"#, #"{"percent":null}"#,
            #"{"done":null,"message":null}"#, "{\n\t\"done\" : 7 ,\r\n \"message\":\"a b~!\"}\n", "{\"message\":\"\(long)\"}",
            #"{"message":""}"#, #"{"percent":100,"total":0,"done":3,"message":"x"}"#,
        ]
        for body in plain {
            let bytes = Array(body.utf8)
            let fast = try #require(TaskValidation.plainProgress(bytes), "\(body)")
            #expect(fast == (try TaskValidation.generalProgress(bytes)), "\(body)")
            #expect(try TaskValidation.progress(bytes) == fast)
        }
        let general = [
            "", "  ", #"{"done":1.5}"#, #"{"done":1e3}"#, #"{"done":-1}"#, #"{"done":01}"#, #"{"done":1234567890123456}"#,
            #"{"percent":101}"#, #"{"message":"\u00e9"}"#, #"{"message":"é"}"#, #"{"message":"a\"b"}"#, #"{"done":1,"done":2}"#,
            #"{"done":1,"extra":2}"#, #"{"done":"1"}"#, #"{"done":true}"#, #"{"done":1,}"#, #"{"done":1} x"#, #"{"done":1"#,
            #"[1]"#, #"{"done":nul}"#, #"{"done":nullx}"#, #"{"message":5}"#, "{\"message\":\"\(long)x\"}", #"{"Done":1}"#,
            #"{"done":1 2}"#, #"{done:1}"#, "{\"message\":\"a\u{7F}\"}", "{\"message\":\"a\tb\"}",
        ]
        for body in general {
            let bytes = Array(body.utf8)
            #expect(TaskValidation.plainProgress(bytes) == nil, "\(body)")
            // The same answer as before the plain reader: the general path's value or error.
            let viaProgress = Result { () throws(TaskError) in try TaskValidation.progress(bytes) }
            let viaGeneral = Result { () throws(TaskError) in try TaskValidation.generalProgress(bytes) }
            #expect(String(describing: viaProgress) == String(describing: viaGeneral), "\(body)")
        }
    }

    @Test func failNeedsAnErrorCode() throws {
        #expect(try TaskValidation.fail(Array(#"{"error":{"code":"io","message":"disk full"}}"#.utf8)) == TaskFailure(code: "io", message: "disk full"))
        for body in [#"{}"#, #"{"error":"x"}"#, #"{"error":{"message":"m"}}"#, #"{"error":{"code":""}}"#] {
            #expect(Self.refusal { () throws(TaskError) in _ = try TaskValidation.fail(Array(body.utf8)) } != nil, "\(body)")
        }
    }

    @Test func topicsParse() {
        #expect(TaskTopic("tasks") == .all)
        #expect(TaskTopic("task:abc") == .task("abc"))
        #expect(TaskTopic("owner:bob") == .owner("bob"))
        for bad in ["", "task:", "task:..", "owner:a b", "Tasks", "foo"] { #expect(TaskTopic(bad) == nil, "\(bad)") }
    }
}
