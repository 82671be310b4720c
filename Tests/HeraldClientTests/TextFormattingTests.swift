import HeraldWire
import Testing
@testable import HeraldClient

/// Numbers, terminal text and pretty JSON for people.
@Suite struct TextFormattingTests {
    @Test func fixedDecimals() {
        #expect(HumanNumber.fixed(45, digits: 1) == "45.0")
        #expect(HumanNumber.fixed(12.25, digits: 1) == "12.3")
        #expect(HumanNumber.fixed(-0.04, digits: 1) == "0.0")
        #expect(HumanNumber.fixed(-1.26, digits: 1) == "-1.3")
        #expect(HumanNumber.fixed(0.5, digits: 0) == "1")
        #expect(HumanNumber.fixed(.infinity, digits: 1) == "inf")
    }

    @Test func countsRatesPercentsDurations() {
        #expect(HumanNumber.count(450) == "450")
        #expect(HumanNumber.count(12.5) == "12.5")
        #expect(HumanNumber.count(0.333) == "0.33")
        #expect(HumanNumber.count(999_999) == "999999")
        #expect(HumanNumber.count(734_003_200) == "734.0M")
        #expect(HumanNumber.count(1_500_000_000) == "1.5G")
        #expect(HumanNumber.rate(7500) == "7500/s")
        #expect(HumanNumber.rate(12.34) == "12.3/s")
        #expect(HumanNumber.rate(0.25) == "0.25/s")
        #expect(HumanNumber.rate(2_500_000) == "2.5M/s")
        #expect(HumanNumber.percent(100) == "100.0%")
        #expect(HumanNumber.duration(0.4) == "0s")
        #expect(HumanNumber.duration(45) == "45s")
        #expect(HumanNumber.duration(65) == "1m05s")
        #expect(HumanNumber.duration(7380) == "2h03m")
        #expect(HumanNumber.duration(273_600) == "3d04h")
        #expect(HumanNumber.duration(-5) == "0s")
    }

    @Test func terminalTextTruncatesAndPadsByColumns() {
        #expect(TerminalText.truncate("abcdef", to: 4) == "abc…")
        #expect(TerminalText.truncate("abcd", to: 4) == "abcd")
        #expect(TerminalText.truncate("abc", to: 0) == "")
        #expect(TerminalText.fit("ab", to: 4) == "ab  ")
        #expect(TerminalText.fit("日本語", to: 5) == "日本…")
        #expect(TerminalText.padLeft("5%", to: 4) == "  5%")
        #expect(TerminalText.width("é") == 1)
        #expect(TerminalText.width("e\u{301}") == 1)
        #expect(TerminalText.width("🚀") == 2)
        #expect(TerminalText.sanitize("a\tb\u{7}c\u{9B}d") == "a b c d")
    }

    @Test func prettyJSONIndentsInDocumentOrder() throws {
        let value = try JSONParser.parse(Array("{\"b\":1,\"a\":[true,null,{}],\"c\":{\"d\":\"x\\ny\"},\"e\":[]}".utf8))
        #expect(JSONPrettyPrinter.format(value) == """
            {
              "b": 1,
              "a": [
                true,
                null,
                {}
              ],
              "c": {
                "d": "x\\ny"
              },
              "e": []
            }
            """)
        #expect(JSONPrettyPrinter.format(.number(1.5)) == "1.5")
    }
}
