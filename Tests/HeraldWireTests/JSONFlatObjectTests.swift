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

    /// The parser's shortcut for compact flat objects returns exactly what the general reading
    /// returns, or nothing (then the general reading decides, errors included): random texts
    /// with escapes, non-ASCII, numbers of every form, whitespace, nesting and errors.
    @Test func theFlatShortcutReadsWhatTheGeneralParserReads() {
        var rng = FeedSplits.SeededGenerator(seed: 4_2)
        var shortcuts = 0
        var differing: [String] = []
        for _ in 0..<50_000 {
            let text = Self.randomObjectText(&rng)
            switch Self.compareShortcut(text) {
            case .notTaken: break
            case .same(let members): if members > 0 { shortcuts += 1 }
            case .different: differing.append(text)
            }
        }
        #expect(differing.isEmpty, "\(differing.prefix(5))")
        #expect(shortcuts > 5_000)
        // Its limits are the parser's: members at the limit and one past it, a string past its limit.
        let tight = JSONLimits(maxDepth: 32, maxStringBytes: 3, maxMembers: 2)
        #expect((try? JSONParser.parse(#"{"a":1,"b":2}"#, limits: tight)) != nil)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(#"{"a":1,"b":2,"c":3}"#, limits: tight) }
        #expect((try? JSONParser.parse(#"{"a":"abc"}"#, limits: tight)) != nil)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(#"{"a":"abcd"}"#, limits: tight) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse("{}", limits: JSONLimits(maxDepth: 0)) }
    }

    enum ShortcutOutcome { case notTaken, same(members: Int), different }

    /// `parseFlatObject` against `parseDocument` on one text (kept out of the test's body: the
    /// loop's frame with its expectations expanded is large for a test task's stack).
    static func compareShortcut(_ text: String) -> ShortcutOutcome {
        Array(text.utf8).withUnsafeBufferPointer { buffer in
            var fast = JSONParserMachine(bytes: buffer, limits: .default)
            var general = JSONParserMachine(bytes: buffer, limits: .default)
            let expected = try? general.parseDocument()
            guard let object = fast.parseFlatObject() else { return .notTaken }
            return expected == .object(object) ? .same(members: object.members.count) : .different
        }
    }

    /// `{"key":value,…}` from pieces with escapes, non-ASCII, numbers of every form, literals,
    /// nesting and whitespace; one in four gets a stray piece somewhere.
    static func randomObjectText(_ rng: inout FeedSplits.SeededGenerator) -> String {
        let pieces = [#"""#, ":", ",", "}", "a", "é", #"\n"#, #"\u00e9"#, #"\""#, "0", "12", "-", ".5", "e3", "E-2",
                      "true", "false", "null", " ", "[1]", #"{"x":1}"#, "9007199254740993", "1e400", "\u{1}"]
        let texts = ["", "a", "é", #"\n"#, #"\u00e9"#, #"\""#, #"\ud83d\ude00"#, "\u{1}", "x y"]
        let values = [#""s""#, #""é\n""#, "0", "-0", "12", "-3.25", "1e3", "2E-2", "01", "1.", "-", "9007199254740993", "1e400",
                      "true", "false", "null", "tru", "[1]", #"{"x":1}"#, " 1", "1 "]
        var members: [String] = []
        for _ in 0..<Int.random(in: 0...4, using: &rng) {
            var key = ""
            for _ in 0..<Int.random(in: 0...2, using: &rng) { key += texts.randomElement(using: &rng)! }
            members.append(#"""# + key + #"":"# + values.randomElement(using: &rng)!)
        }
        var text = "{" + members.joined(separator: ",") + "}"
        if Int.random(in: 0..<4, using: &rng) == 0 {
            let at = text.index(text.startIndex, offsetBy: Int.random(in: 0...text.count, using: &rng))
            text.insert(contentsOf: pieces.randomElement(using: &rng)!, at: at)
        }
        return text
    }
}
