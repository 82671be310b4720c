import Testing
@testable import HeraldWire

@Suite struct HTTPRequestQueryTests {
    func head(_ target: String) -> HTTPRequestHead { HTTPRequestHead(method: "GET", target: target, headers: [:]) }

    @Test func repeatedParametersInOrder() {
        let h = head("/ws?topic=tasks&since=4&topic=owner:bob&token=a.b.c")
        #expect(h.queryValues("topic") == ["tasks", "owner:bob"])
        #expect(h.queryValue("since") == "4")
        #expect(h.queryValue("token") == "a.b.c")
        #expect(h.queryValue("epoch") == nil)
        #expect(head("/ws").queryValues("topic") == [])
    }

    @Test func keysAndValuesArePercentDecodedAndPlusIsASpace() {
        let h = head("/x?%74opic=task%3Aa&q=a+b&p=a%2Bb&e=&flag")
        #expect(h.queryValue("topic") == "task:a")
        #expect(h.queryValue("q") == "a b")
        #expect(h.queryValue("p") == "a+b")
        #expect(h.queryValue("e") == "")
        #expect(h.queryValue("flag") == "")
    }

    @Test func emptyPairsAndMalformedValuesAreSkipped() {
        let h = head("/x?&&a=1&&a=%zz&a=%4&a=%ff&a=2&")
        #expect(h.queryValues("a") == ["1", "2"])  // bad escapes and non-UTF-8 are dropped
        #expect(head("/x?a=%E2%9C%93").queryValue("a") == "✓")
        #expect(head("/x?=v").queryValues("") == ["v"])
    }
}
