import HeraldTestSupport
import Testing
@testable import HeraldWire

/// `JSONParser.isPlainFlatObject` may say "not known" to anything, but must never call a text
/// plain that `parse` would refuse or read as something other than an object.
@Suite struct JSONFlatObjectTests {
    static func plain(_ text: String) -> Bool {
        Array(text.utf8).withUnsafeBufferPointer { JSONParser.isPlainFlatObject($0) }
    }

    @Test(arguments: [
        "{}", #"{"source":"bench"}"#, #"{"a":1,"b":-0,"c":0.5,"d":-12.25,"e":true,"f":false,"g":null,"h":""}"#,
        #"{"":"x"}"#, #"{"a":1,"a":2}"#, #"{"n":123456789012345,"m":0.123456789012345}"#,
        #"{"s":" !#$%&'()*+,-./:;<=>?@[]^_`{|}~"}"#,
    ])
    func plainObjectsAreAccepted(_ text: String) throws {
        #expect(Self.plain(text))
        guard case .object = try JSONParser.parse(text) else { Issue.record("not an object: \(text)"); return }
    }

    /// Valid JSON that is not plain (left to `parse`), and invalid JSON.
    @Test(arguments: [
        // valid, not plain
        #"{"a":{"b":1}}"#, #"{"a":[1]}"#, #"{"a":"\n"}"#, #"{"a":"é"}"#, #"{ "a":1}"#, #"{"a": 1}"#,
        #"{"a":1e5}"#, #"{"a":1E5}"#, #"{"a":1234567890123456}"#, #"{"a":0.1234567890123456}"#, #"{"\u0061":1}"#,
        #"{"a":"\u007f"}"#,
        // invalid
        "", "{", "}", "[]", #""a""#, "1", #"{"a"}"#, #"{"a":}"#, #"{"a":1,}"#, #"{,"a":1}"#, #"{"a":01}"#,
        #"{"a":-}"#, #"{"a":1.}"#, #"{"a":.5}"#, #"{"a":+1}"#, #"{"a":1.2.3}"#, #"{"a":tru}"#, #"{"a":nul}"#,
        #"{"a":True}"#, #"{"a":"x}"#, #"{"a":1}x"#, #"{"a":1}}"#, #"{a:1}"#, #"{"a":1 }"#, "{\"a\":\"\u{1}\"}",
    ])
    func otherTextsAreNotPlain(_ text: String) {
        #expect(!Self.plain(text), "\(text)")
    }

    /// The limit on members: 10,000 plain members are plain, one more is left to `parse`
    /// (which refuses it).
    @Test func membersAtTheLimitAndPastIt() throws {
        func object(_ n: Int) -> String { "{" + (0..<n).map { #""k\#($0)":\#($0)"# }.joined(separator: ",") + "}" }
        #expect(Self.plain(object(JSONLimits.defaultMaxMembers)))
        _ = try JSONParser.parse(object(JSONLimits.defaultMaxMembers))
        #expect(!Self.plain(object(JSONLimits.defaultMaxMembers + 1)))
        #expect(throws: JSONParseError.self) { try JSONParser.parse(object(JSONLimits.defaultMaxMembers + 1)) }
    }

    /// Random texts from the grammar's own alphabet: whatever is called plain, `parse` reads as
    /// an object (and so the restart's shortcut accepts nothing the parser would refuse).
    @Test func whateverIsPlainParsesAsAnObject() throws {
        var rng = FeedSplits.SeededGenerator(seed: 3_2_1)
        let pieces = [#"{"#, #"}"#, #"""#, ":", ",", "a", "0", "1", "9", "-", ".", "e", "true", "false", "null", " ", "\\", "[", #"{"k":"#]
        var plainCount = 0
        for _ in 0..<50_000 {
            var text = #"{"k":"#
            for _ in 0..<Int.random(in: 0...8, using: &rng) { text += pieces.randomElement(using: &rng)! }
            if Bool.random(using: &rng) { text += "}" }
            guard Self.plain(text) else { continue }
            plainCount += 1
            guard case .object = try JSONParser.parse(text) else { Issue.record("not an object: \(text)"); continue }
        }
        #expect(plainCount > 100)  // the test reaches the accepting side, not only refusals
    }
}
