import Testing
@testable import HeraldTasks

@Suite struct TaskValidationBatchTests {
    static func body(_ s: String) -> [UInt8] { Array(s.utf8) }
    static func items(_ n: Int) -> String { "[" + (0..<n).map { #"{"title":"t\#($0)"}"# }.joined(separator: ",") + "]" }
    static func ids(_ n: Int) -> String { "[" + (0..<n).map { #""i\#($0)""# }.joined(separator: ",") + "]" }

    @Test func aThousandItemsPassAndOneMoreIs413() throws {
        guard case .create(let inputs) = try TaskValidation.batch(Self.body(#"{"op":"create","items":\#(Self.items(1_000))}"#)) else {
            Issue.record("not a create batch")
            return
        }
        #expect(inputs.count == 1_000)
        for text in [#"{"op":"create","items":\#(Self.items(1_001))}"#, #"{"op":"retry","ids":\#(Self.ids(1_001))}"#] {
            let error = #expect(throws: TaskError.self) { try TaskValidation.batch(Self.body(text)) }
            #expect(error?.status == 413 && error?.code == "too_many_items")
        }
        _ = try TaskValidation.batch(Self.body(#"{"op":"retry","ids":\#(Self.ids(1_000))}"#))
    }

    @Test func aMalformedItemRefusesTheWholeBatchNamingIt() {
        var list = (0..<1_000).map { #"{"title":"t\#($0)"}"# }
        list[500] = #"{"title":"x","timeout_s":-1}"#
        let error = #expect(throws: TaskError.self) {
            try TaskValidation.batch(Self.body(#"{"op":"create","items":[\#(list.joined(separator: ","))]}"#))
        }
        #expect(error?.status == 400)
        #expect(error?.message.hasPrefix("items[500]: timeout_s") == true)
    }

    @Test(arguments: [
        "{}", #"{"op":"start","ids":["a"]}"#, #"{"op":"create"}"#, #"{"op":"create","items":{}}"#, #"{"op":"create","items":[1]}"#,
        #"{"op":"cancel"}"#, #"{"op":"cancel","ids":["a"],"filter":{}}"#, #"{"op":"cancel","ids":[1]}"#, #"{"op":"cancel","ids":["a/b"]}"#,
        #"{"op":"retry","filter":{"status":["done"]}}"#, #"{"op":"retry","filter":{"owner":"a b"}}"#, #"{"op":"retry","filter":{"who":"x"}}"#,
        #"{"op":"delete","items":[]}"#, #"{"op":"create","items":[],"ids":[]}"#, "[]", "not json",
    ])
    func malformedBodiesAre400(_ text: String) {
        let error = #expect(throws: TaskError.self) { try TaskValidation.batch(Self.body(text)) }
        #expect(error?.status == 400)
    }

    @Test func aViewersCreateBatchIs403BeforeItsItemsAreRead() {
        let error = #expect(throws: TaskError.self) {
            try TaskValidation.batch(Self.body(#"{"op":"create","items":[{"title":5}]}"#), mayCreate: false)
        }
        #expect(error?.status == 403)
    }

    @Test func filtersAndIdsParse() throws {
        #expect(try TaskValidation.batch(Self.body(#"{"op":"retry","filter":{"owner":"bob","status":["failed","cancelled"]}}"#))
                == .change(.retry, .filter(owner: "bob", statuses: [.failed, .cancelled])))
        #expect(try TaskValidation.batch(Self.body(#"{"op":"delete","ids":["a","b"]}"#)) == .change(.delete, .ids(["a", "b"])))
        #expect(try TaskValidation.batch(Self.body(#"{"op":"cancel","filter":{}}"#)) == .change(.cancel, .filter(owner: nil, statuses: [])))
    }
}
