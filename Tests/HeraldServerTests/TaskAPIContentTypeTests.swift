import HeraldWire
import Testing
@testable import HeraldServer

/// The task API's Content-Type check (issue 18 added a byte-wise fast path for the two usual
/// types): the same answer as the general rule for every spelling.
@Suite struct TaskAPIContentTypeTests {
    static func accepted(_ type: String?) -> Bool {
        let headers: HTTPHeaders = type.map { ["Content-Type": $0] } ?? [:]
        return TaskAPI.checkContentType(HTTPRequestHead(method: "POST", target: "/api/tasks", headers: headers), body: Array("{}".utf8)) == nil
    }

    @Test func theUsualTypesInAnyCaseAndTheGeneralRuleAgree() {
        for type in ["application/json", "APPLICATION/JSON", "Application/Json", "text/plain", "Text/Plain", "TEXT/PLAIN",
                     "application/json; charset=utf-8", " application/json ", "text/plain;charset=UTF-8", "application/problem+json",
                     "application/vnd.api+JSON"] {
            #expect(Self.accepted(type), "\(type)")
        }
        for type in ["application/jsonx", "application/jso", "text/html", "application/x-www-form-urlencoded",
                     "multipart/form-data; boundary=x", "application/xml", "text/plainn", "tExt/plai", "application\u{0F}json",
                     "application/json\u{212A}"] {
            #expect(!Self.accepted(type), "\(type)")
        }
        #expect(Self.accepted(nil))
        #expect(TaskAPI.isBare("APPLICATION/json", "application/json") && !TaskAPI.isBare("application/json ", "application/json"))
    }
}
