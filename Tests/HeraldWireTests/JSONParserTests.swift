import Testing
@testable import HeraldWire

@Suite struct JSONParserTests {
    /// The error `text` is refused with, or nil when it parses.
    static func error(_ text: String, limits: JSONLimits = .default) -> JSONParseError? {
        error(Array(text.utf8), limits: limits)
    }

    static func error(_ bytes: [UInt8], limits: JSONLimits = .default) -> JSONParseError? {
        do {
            _ = try JSONParser.parse(bytes, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Accepting

    @Test func parsesEveryKindOfValue() throws {
        let v = try JSONParser.parse(#" {"s":"x","n":-12.5e1,"t":true,"f":false,"z":null,"a":[1,[2],{}],"o":{"k":[]}} "#)
        #expect(v == [
            "s": "x", "n": -125, "t": true, "f": false, "z": .null, "a": [1, [2], [:]], "o": ["k": []],
        ])
    }

    @Test func parsesScalarsAtTheTopLevel() throws {
        #expect(try JSONParser.parse("0") == 0)
        #expect(try JSONParser.parse("\"a\"") == "a")
        #expect(try JSONParser.parse("null") == .null)
        #expect(try JSONParser.parse(" \t\r\ntrue\n") == true)
    }

    @Test(arguments: [
        ("0", 0.0), ("-0", -0.0), ("7", 7), ("-7", -7), ("123456789012345", 123_456_789_012_345),
        ("9007199254740993", 9_007_199_254_740_992), ("18446744073709551616", 18_446_744_073_709_551_616),
        ("1.5", 1.5), ("0.1", 0.1), ("-0.000123", -0.000123), ("1e2", 100), ("1E2", 100), ("1e+2", 100),
        ("1e-2", 0.01), ("2.5E-3", 0.0025), ("1e22", 1e22), ("1e23", 1e23), ("123.456e-300", 123.456e-300),
        ("1e-400", 0), ("0.30000000000000004", 0.30000000000000004),
        ("1.7976931348623157e308", 1.7976931348623157e308), ("4.9e-324", .leastNonzeroMagnitude),
        ("12345678901234567890123", 12_345_678_901_234_567_890_123.0),
        ("0.1234567890123456789012", 0.1234567890123456789012),
    ] as [(String, Double)])
    func numbersConvertToTheNearestDouble(_ text: String, _ expected: Double) throws {
        let value = try JSONParser.parse(text)
        #expect(value == .number(expected))
        #expect(value.numberValue?.sign == expected.sign)
    }

    @Test func minusZeroIsNegativeZero() throws {
        #expect(try JSONParser.parse("-0").numberValue?.sign == .minus)
        #expect(try JSONParser.parse("-0.0").numberValue?.sign == .minus)
    }

    @Test(arguments: [
        (#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{08}\u{0C}\n\r\t"),
        (#""\u0041\u00e9\u20AC""#, "Aé€"),
        (#""\u0000""#, "\u{0}"),
        (#""\ud83d\ude00""#, "😀"),
        (#""\uD834\uDD1E x""#, "𝄞 x"),
        (#""a\nb😀c""#, "a\nb😀c"),
        ("\"héllo 😀\"", "héllo 😀"),
        ("\"\u{7F}\"", "\u{7F}"),
        ("\"\u{2028}\"", "\u{2028}"),
    ])
    func stringEscapesAndUTF8Decode(_ text: String, _ expected: String) throws {
        #expect(try JSONParser.parse(text) == .string(expected))
    }

    @Test func duplicateKeysAreKeptInOrder() throws {
        let o = try #require(try JSONParser.parse(#"{"a":1,"a":2}"#).objectValue)
        #expect(o.members.map(\.key) == ["a", "a"])
        #expect(o["a"] == 1)
        #expect(o.hasDuplicateKeys)
    }

    @Test func acceptsAnyCollectionOfBytes() throws {
        let bytes = Array(#"xx[1,"a"]yy"#.utf8)
        #expect(try JSONParser.parse(bytes[2..<9]) == [1, "a"])
        #expect(try JSONParser.parse(AnyCollection(bytes[2..<9])) == [1, "a"])
        #expect(try JSONParser.parse(ByteBuffer(string: "[true]").readableView) == [true])
    }

    // MARK: Refusing, each rule with its message and offset

    @Test(arguments: [
        ("", 0, "expected a value at byte 0, found end of input"),
        ("   ", 3, "expected a value at byte 3, found end of input"),
        ("[1,]", 3, "trailing comma before ']' at byte 3"),
        (#"{"a":1,}"#, 7, "trailing comma before '}' at byte 7"),
        ("[1 2]", 3, "expected ',' or ']' at byte 3, found '2'"),
        (#"{"a":1 "b":2}"#, 7, "expected ',' or '}' at byte 7, found '\"'"),
        (#"{"a" 1}"#, 5, "expected ':' after the key at byte 5, found '1'"),
        ("{1:2}", 1, "expected a string key at byte 1, found '1'"),
        ("{'a':1}", 1, "expected a string key at byte 1, found '''"),
        ("['a']", 1, "expected a value at byte 1, found '''"),
        ("[1]]", 3, "unexpected ']' after the JSON value at byte 3"),
        ("[1] x", 4, "unexpected 'x' after the JSON value at byte 4"),
        ("1 2", 2, "unexpected '2' after the JSON value at byte 2"),
        ("[1", 2, "expected ',' or ']' at byte 2, found end of input"),
        (#"{"a":1"#, 6, "expected ',' or '}' at byte 6, found end of input"),
        ("/* c */ 1", 0, "expected a value at byte 0, found '/'"),
        ("[1] // c", 4, "unexpected '/' after the JSON value at byte 4"),
        ("[01]", 1, "leading zeros are not allowed in a number at byte 1"),
        ("-01", 0, "leading zeros are not allowed in a number at byte 0"),
        ("[+1]", 1, "expected a value at byte 1, found '+'"),
        ("[.5]", 1, "expected a value at byte 1, found '.'"),
        ("[1.]", 3, "expected a digit after '.' at byte 3, found ']'"),
        ("[1.e5]", 3, "expected a digit after '.' at byte 3, found 'e'"),
        ("[1e]", 3, "expected a digit in the exponent at byte 3, found ']'"),
        ("[1e+]", 4, "expected a digit in the exponent at byte 4, found ']'"),
        ("[-]", 2, "expected a digit after '-' at byte 2, found ']'"),
        ("-", 1, "expected a digit after '-' at byte 1, found end of input"),
        ("[NaN]", 1, "expected a value at byte 1, found 'N'"),
        ("[Infinity]", 1, "expected a value at byte 1, found 'I'"),
        ("[-Infinity]", 2, "expected a digit after '-' at byte 2, found 'I'"),
        ("[1e999]", 1, "number out of range at byte 1"),
        ("-1e400", 0, "number out of range at byte 0"),
        ("tru", 0, "invalid literal at byte 0, expected 'true'"),
        ("[nul]", 1, "invalid literal at byte 1, expected 'null'"),
        ("True", 0, "expected a value at byte 0, found 'T'"),
        ("\"a\tb\"", 2, "raw control character 0x09 in a string at byte 2; it must be escaped"),
        ("\"a\nb\"", 2, "raw control character 0x0A in a string at byte 2; it must be escaped"),
        ("\"a\u{0}\"", 2, "raw control character 0x00 in a string at byte 2; it must be escaped"),
        (#""abc"#, 4, "unterminated string (opened at byte 0) at byte 4"),
        (#""a\"#, 3, "unterminated string at byte 3"),
        (#"["\x"]"#, 2, "invalid escape '\\x' at byte 2"),
        (#"["\'"]"#, 2, "invalid escape '\\'' at byte 2"),
        (#"["\u00"]"#, 2, "expected 4 hex digits after \\u at byte 2"),
        (#"["\u12G4"]"#, 2, "expected 4 hex digits after \\u at byte 2"),
        (#""\ud800""#, 1, "lone high surrogate \\uD800 at byte 1, expected a \\uDC00–\\uDFFF escape after it"),
        (#""\ud800\u0041""#, 1, "lone high surrogate \\uD800 at byte 1, expected a \\uDC00–\\uDFFF escape after it"),
        (#""\ud800x""#, 1, "lone high surrogate \\uD800 at byte 1, expected a \\uDC00–\\uDFFF escape after it"),
        (#""\udc00""#, 1, "lone low surrogate \\uDC00 at byte 1"),
    ] as [(String, Int, String)])
    func malformedDocumentsAreRefusedWithWhereAndWhy(_ text: String, _ offset: Int, _ message: String) {
        let error = Self.error(text)
        #expect(error == JSONParseError(offset: offset, message: message), "\(text)")
    }

    @Test(arguments: [
        ([0x22, 0xFF, 0x22], 1),                    // never valid in UTF-8
        ([0x22, 0xC0, 0xAF, 0x22], 1),              // overlong '/'
        ([0x22, 0xE0, 0x80, 0xAF, 0x22], 1),        // overlong, 3 bytes
        ([0x22, 0xED, 0xA0, 0x80, 0x22], 1),        // encoded surrogate U+D800
        ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 1),  // above U+10FFFF
        ([0x22, 0x61, 0x80, 0x22], 2),              // stray continuation byte
        ([0x22, 0xC3, 0x22], 1),                    // truncated sequence
        ([0x22, 0xE2, 0x82], 1),                    // truncated at the end of input
        ([0x22, 0x5C, 0x6E, 0xC3, 0x28, 0x22], 3),  // after an escape (slow path)
    ] as [([UInt8], Int)])
    func invalidUTF8InAStringIsRefused(_ bytes: [UInt8], _ offset: Int) {
        #expect(Self.error(bytes) == JSONParseError(offset: offset, message: "invalid UTF-8 at byte \(offset)"))
    }

    @Test func nonASCIIOutsideStringsIsRefused() {
        #expect(Self.error([0xEF, 0xBB, 0xBF, 0x31]) == JSONParseError(offset: 0, message: "expected a value at byte 0, found 0xEF"))
        #expect(Self.error([0x5B, 0x31, 0xC2, 0xA0, 0x5D])?.offset == 2)
    }

    @Test func errorOffsetsCountUTF8BytesOfAString() {
        #expect(Self.error(#"["é", x]"#)?.offset == 7)
        let e = Self.error(#"["é", x]"#)
        do {
            _ = try JSONParser.parse(#"["é", x]"#)
        } catch {
            #expect(error == e)
            #expect(error.description == error.message)
        }
    }

    // MARK: Limits: at the limit and one past it

    static func nested(_ depth: Int) -> String {
        String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    }

    @Test func depthAtTheLimitParses() throws {
        #expect(Self.error(Self.nested(JSONLimits.defaultMaxDepth)) == nil)
        #expect(Self.error(String(repeating: #"{"a":"#, count: 32) + "1" + String(repeating: "}", count: 32)) == nil)
        #expect(Self.error(Self.nested(3), limits: JSONLimits(maxDepth: 3)) == nil)
    }

    @Test func depthOnePastTheLimitIsRefused() {
        #expect(Self.error(Self.nested(33)) == JSONParseError(offset: 32, message: "nesting deeper than 32 levels at byte 32"))
        #expect(Self.error(String(repeating: #"{"a":"#, count: 33) + "1" + String(repeating: "}", count: 33))?.offset == 32 * 5)
        #expect(Self.error("[[{}]]", limits: JSONLimits(maxDepth: 2))?.offset == 2)
    }

    @Test func deepInputNeverExhaustsTheParsersStack() {
        // The parser keeps open containers on the heap: a million unclosed levels are just an
        // error. (A value that deep could not be freed without deep recursion, which is what
        // maxDepth is for, so the accepted case stays at a depth any thread can free.)
        #expect(Self.error(String(repeating: "[", count: 1_000_000), limits: JSONLimits(maxDepth: .max))?.offset == 1_000_000)
        #expect(Self.error(String(repeating: "[", count: 1_000_000))?.offset == 32)
        #expect(Self.error(Self.nested(2_000), limits: JSONLimits(maxDepth: .max)) == nil)
    }

    @Test func stringAtTheByteLimitParses() throws {
        let limits = JSONLimits(maxStringBytes: 8)
        #expect(try JSONParser.parse(#""12345678""#, limits: limits) == "12345678")
        #expect(try JSONParser.parse(#""1234567\n""#, limits: limits) == "1234567\n")
        #expect(try JSONParser.parse(#""ééé\u00e9""#, limits: limits) == "éééé")
        #expect(try JSONParser.parse(#"{"12345678":1}"#, limits: limits) == ["12345678": 1])
    }

    @Test func stringOneBytePastTheLimitIsRefused() {
        let limits = JSONLimits(maxStringBytes: 8)
        let tooLong = JSONParseError(offset: 1, message: "string longer than 8 bytes at byte 1")
        #expect(Self.error(#"["123456789"]"#, limits: limits) == tooLong)
        #expect(Self.error(#"["12345678\n"]"#, limits: limits) == tooLong)
        #expect(Self.error(#"["éééé\u0041"]"#, limits: limits) == tooLong)
        #expect(Self.error(#"{"123456789":1}"#, limits: limits) == tooLong)
        #expect(Self.error("\"" + String(repeating: "a", count: (1 << 20) + 1) + "\"")?.message == "string longer than 1048576 bytes at byte 0")
        #expect(Self.error("\"" + String(repeating: "a", count: 1 << 20) + "\"") == nil)
    }

    @Test func membersAtTheLimitParse() throws {
        let limits = JSONLimits(maxMembers: 3)
        #expect(try JSONParser.parse("[1,2,3]", limits: limits) == [1, 2, 3])
        #expect(try JSONParser.parse(#"{"a":1,"b":2,"c":3}"#, limits: limits).objectValue?.count == 3)
        #expect(try JSONParser.parse("[[1,2,3],[1,2,3],[1,2,3]]", limits: limits).arrayValue?.count == 3)
        let many = "[" + Array(repeating: "0", count: 10_000).joined(separator: ",") + "]"
        #expect(try JSONParser.parse(many).arrayValue?.count == 10_000)
    }

    @Test func membersOnePastTheLimitAreRefused() {
        let limits = JSONLimits(maxMembers: 3)
        #expect(Self.error("[1,2,3,4]", limits: limits) == JSONParseError(offset: 7, message: "more than 3 elements in an array at byte 7"))
        #expect(Self.error(#"{"a":1,"b":2,"c":3, "d":4}"#, limits: limits) == JSONParseError(offset: 20, message: "more than 3 members in an object at byte 20"))
        #expect(Self.error("[[1],[2],[3],[[4]]]", limits: limits)?.offset == 13)
        let many = "[" + Array(repeating: "0", count: 10_001).joined(separator: ",") + "]"
        #expect(Self.error(many)?.message == "more than 10000 elements in an array at byte 20001")
    }
}
