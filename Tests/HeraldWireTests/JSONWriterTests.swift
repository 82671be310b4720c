import HeraldTestSupport
import Testing
@testable import HeraldWire

@Suite struct JSONWriterTests {
    static func number(_ d: Double) -> String {
        var out: [UInt8] = []
        JSONWriter.writeNumber(d, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func string(_ s: String) -> String {
        var out: [UInt8] = []
        JSONWriter.writeString(s, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test(arguments: [
        (0.0, "0"), (-0.0, "0"), (42, "42"), (-7, "-7"), (1, "1"), (10, "10"), (100, "100"),
        (1.5, "1.5"), (-1.5, "-1.5"), (0.1, "0.1"), (1e-7, "1e-07"), (123.456, "123.456"),
        (9_007_199_254_740_991, "9007199254740991"), (-9_007_199_254_740_991, "-9007199254740991"),
        (9_007_199_254_740_992, "9007199254740992"), (9_007_199_254_740_994, "9.007199254740994e+15"),
        (1e16, "1e+16"), (1e300, "1e+300"), (1.2345678901234568e+20, "1.2345678901234568e+20"),
        (Double.leastNonzeroMagnitude, "5e-324"), (Double.greatestFiniteMagnitude, "1.7976931348623157e+308"),
        (Double.nan, "null"), (Double.infinity, "null"), (-Double.infinity, "null"),
    ] as [(Double, String)])
    func numbersAreWrittenExactly(_ value: Double, _ expected: String) {
        #expect(Self.number(value) == expected)
    }

    @Test func everyFiniteNumberWrittenReadsBackAsTheSameDouble() throws {
        var rng = FeedSplits.SeededGenerator(seed: 53)
        for _ in 0..<5_000 {
            let d = Double(bitPattern: rng.next())
            guard d.isFinite else { continue }
            let text = Self.number(d)
            let back = try JSONParser.parse(text)
            #expect(back == .number(d), "\(d) written as \(text)")
        }
        for d in [0.1, 0.2, 0.3, 1.0 / 3, 2.0 / 3, 1e21, 1e22, 1e23, 4.35, .leastNonzeroMagnitude, 2.2250738585072014e-308] {
            #expect(try JSONParser.parse(Self.number(d)) == .number(d))
        }
    }

    @Test(arguments: [
        ("", #""""#),
        ("plain", #""plain""#),
        ("a\"b", #""a\"b""#),
        ("back\\slash", #""back\\slash""#),
        ("a/b", #""a/b""#),
        ("\n\r\t\u{08}\u{0C}", #""\n\r\t\b\f""#),
        ("\u{00}\u{01}\u{1F}", #""\u0000\u0001\u001f""#),
        ("\u{7F}", "\"\u{7F}\""),
        ("héllo wörld", "\"héllo wörld\""),
        ("😀 progress", "\"😀 progress\""),
        ("line\u{2028}sep\u{2029}end", #""line\u2028sep\u2029end""#),
        ("\u{2027}\u{202A}€", "\"\u{2027}\u{202A}€\""),
        ("\"\"", #""\"\"""#),
    ])
    func stringsAreQuotedAndEscaped(_ value: String, _ expected: String) {
        #expect(Self.string(value) == expected)
    }

    @Test func stringsWithoutSpecialCharactersMatchJSONTextQuote() {
        for s in ["", "abc", "a\"b\\c\n\r\t", "\u{01}\u{1F}", "ümlaut 😀"] {
            #expect(Self.string(s) == JSONText.quote(s))
        }
    }

    @Test func containersAreCompactAndKeepMemberOrder() {
        let value: JSONValue = [
            "z": 1, "a": [true, false, .null, "x", 2.5, [:], []], "m": ["k": "v"],
        ]
        #expect(JSONWriter.encodeString(value) == #"{"z":1,"a":[true,false,null,"x",2.5,{},[]],"m":{"k":"v"}}"#)
        #expect(JSONWriter.encode(value) == Array(JSONWriter.encodeString(value).utf8))
        #expect(value.description == JSONWriter.encodeString(value))
    }

    @Test func duplicateKeysAreWrittenAsTheyAre() {
        let object = JSONObject([(key: "a", value: 1), (key: "a", value: 2)])
        #expect(JSONWriter.encodeString(.object(object)) == #"{"a":1,"a":2}"#)
    }

    @Test func writeAppendsToWhatIsAlreadyThere() {
        var out = Array("data: ".utf8)
        JSONWriter.write(["ok": true], into: &out)
        #expect(String(decoding: out, as: UTF8.self) == #"data: {"ok":true}"#)
    }

    @Test func roundTripsEveryKind() throws {
        let values: [JSONValue] = [
            .null, true, false, 0, -1, 3.25, 1e-9, 1e300, -2.5e-300, "", "text", "esc \" \\ \n \u{0} \u{2028}",
            "😀𝄞", [], [1, "two", [3]], [:], ["a": ["b": ["c": .null]]],
            .object(JSONObject([(key: "dup", value: 1), (key: "dup", value: 2)])),
        ]
        for value in values {
            let text = JSONWriter.encode(value)
            #expect(try JSONParser.parse(text) == value, "\(String(decoding: text, as: UTF8.self))")
            #expect(JSONWriter.encode(try JSONParser.parse(text)) == text)
        }
    }

    /// `writeRounded` writes what `writeNumber` writes of the rounded value, byte for byte:
    /// every multiple of 10^-p in ±200 (p = 1…3), random values up to and past 10^9, halves,
    /// negative zero, infinities and NaN.
    @Test func roundedNumbersAreWrittenAsWriteNumberWritesTheRoundedValue() {
        func both(_ d: Double, _ places: Int) -> (fast: [UInt8], general: [UInt8]) {
            let scale = [1.0, 10, 100, 1000][places]
            var fast: [UInt8] = [], general: [UInt8] = []
            JSONWriter.writeRounded(d, places: places, into: &fast)
            JSONWriter.writeNumber((d * scale).rounded() / scale, into: &general)
            return (fast, general)
        }
        var rng = FeedSplits.SeededGenerator(seed: 1_000)
        for places in 1...3 {
            let scale = [1.0, 10, 100, 1000][places]
            var values: [Double] = (-200_000...200_000).map { Double($0) / 1000 }
            values += (0..<20_000).map { _ in Double.random(in: -2e9...2e9, using: &rng) }
            values += (0..<20_000).map { _ in Double.random(in: -1...1, using: &rng) / scale }
            values += [0.05, 0.005, 0.0005, 2.675, 1.005, -0.0, 999_999_999.999, 1e9 - 0.05, 1e9, 1e9 + 0.5, 4e15 + 0.5,
                       .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude]
            for d in values {
                let (fast, general) = both(d, places)
                #expect(fast == general, "\(d) to \(places) places: \(String(decoding: fast, as: UTF8.self)) vs \(String(decoding: general, as: UTF8.self))")
            }
        }
        #expect(String(decoding: both(12.3456, 2).fast, as: UTF8.self) == "12.35")
        #expect(String(decoding: both(-0.0501, 3).fast, as: UTF8.self) == "-0.05")
        #expect(String(decoding: both(7.04, 1).fast, as: UTF8.self) == "7")
    }
}
