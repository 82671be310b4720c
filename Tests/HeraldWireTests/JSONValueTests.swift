import Testing
@testable import HeraldWire

@Suite struct JSONValueTests {
    @Test func accessorsAnswerOnlyForTheirKind() {
        let s: JSONValue = "x"
        #expect(s.stringValue == "x" && s.numberValue == nil && s.boolValue == nil && !s.isNull)
        let n: JSONValue = 3
        #expect(n.numberValue == 3 && n.intValue == 3 && n.stringValue == nil)
        #expect(JSONValue.number(1.5).intValue == nil)
        #expect(JSONValue.number(1e300).intValue == nil)
        #expect(JSONValue.number(-0.0).intValue == 0)
        #expect(JSONValue.bool(true).boolValue == true)
        #expect(JSONValue.null.isNull)
        #expect(JSONValue.array([1]).arrayValue == [1])
        #expect(JSONValue.object(["a": 1]).objectValue == ["a": 1])
        #expect(JSONValue(7) == .number(7))
    }

    @Test func subscriptReadsTheFirstMemberOfAnObject() throws {
        let v = try JSONParser.parse(#"{"a":1,"b":{"c":"d"},"a":2}"#)
        #expect(v["a"] == 1)
        #expect(v["b"]?["c"] == "d")
        #expect(v["missing"] == nil)
        #expect(JSONValue.array([1])["a"] == nil)
        #expect(JSONValue.string("a")["a"] == nil)
    }

    @Test func settingAMemberReplacesItInPlaceOrAppends() {
        var o: JSONObject = ["a": 1, "b": 2]
        o["a"] = 10
        #expect(o.keys == ["a", "b"] && o["a"] == 10)
        o["c"] = .null
        #expect(o.keys == ["a", "b", "c"] && o["c"] == .null && o.count == 3)
        o["b"] = nil
        #expect(o.keys == ["a", "c"])
        o["nothing"] = nil
        #expect(o.count == 2)
    }

    @Test func settingADuplicatedKeyLeavesOneMember() {
        var o = JSONObject([(key: "a", value: 1), (key: "b", value: 2), (key: "a", value: 3)])
        o["a"] = 9
        #expect(o.keys == ["a", "b"] && o["a"] == 9)
        var p = JSONObject([(key: "a", value: 1), (key: "a", value: 3)])
        p["a"] = nil
        #expect(p.isEmpty)
    }

    @Test func duplicateKeysAreDetectedInSmallAndLargeObjects() throws {
        #expect(!JSONObject().hasDuplicateKeys)
        #expect(!(["a": 1, "b": 2] as JSONObject).hasDuplicateKeys)
        #expect(try JSONParser.parse(#"{"a":1,"b":2,"a":3}"#).objectValue?.hasDuplicateKeys == true)
        let many = (0..<100).map { (key: "k\($0)", value: JSONValue($0)) }
        #expect(!JSONObject(many).hasDuplicateKeys)
        #expect(JSONObject(many + [(key: "k42", value: .null)]).hasDuplicateKeys)
    }

    @Test func objectsAreEqualWithTheSameMembersInTheSameOrder() {
        let a: JSONObject = ["x": 1, "y": [true]]
        #expect(a == ["x": 1, "y": [true]])
        #expect(a != ["y": [true], "x": 1])
        #expect(a != ["x": 1])
        #expect(a != ["x": 2, "y": [true]])
        #expect(JSONValue.number(0) == JSONValue.number(-0.0))
    }

    @Test func objectsIterateInDocumentOrder() throws {
        let o = try #require(try JSONParser.parse(#"{"c":1,"a":2,"b":3}"#).objectValue)
        #expect(o.map(\.key) == ["c", "a", "b"])
        #expect(o.map(\.value) == [1, 2, 3])
    }
}
