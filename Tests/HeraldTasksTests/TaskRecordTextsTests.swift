import HeraldWire
import Testing
@testable import HeraldTasks

/// A record keeps a title over 15 UTF-8 bytes and `meta` as their JSON texts in one buffer
/// (issue 18): the title read back, the JSON written and equality must be what separate
/// `title: String` and meta text gave.
@Suite struct TaskRecordTextsTests {
    static let titles = ["", "t", "fifteen bytes!!", "sixteen bytes!!!", "export batch 12345", "quote \" and \\ back",
                         "line\nbreak and tab\t and \u{1}", "für Q3 — «x» ✓ 𝄞 long enough", "sep \u{2028} and \u{2029} here",
                         "123456789012345\"", "\\\\\\\\\\\\\\\\\"\"\"\"\"\"\"\"", String(repeating: "long ", count: 300)]
    static let metas: [JSONObject] = [JSONObject(), JSONObject([("source", .string("bench"))]),
                                      JSONObject([("q", .string("a\"b}{")), ("n", .array([.number(1), .null]))])]

    /// What `encodeJSON` wrote before the texts were combined: the title escaped by JSONWriter.
    static func expectedPrefix(_ r: TaskRecord, title: String) -> [UInt8] {
        var out = Array(#"{"id":"#.utf8)
        JSONWriter.writeString(r.id, into: &out)
        out.append(contentsOf: #","title":"#.utf8)
        JSONWriter.writeString(title, into: &out)
        out.append(contentsOf: #","owner":"#.utf8)
        return out
    }

    static func expectedSuffix(meta: JSONObject, seq: UInt64) -> [UInt8] {
        var out = Array(#","meta":"#.utf8)
        out.append(contentsOf: meta.isEmpty ? Array("{}".utf8) : JSONWriter.encode(.object(meta)))
        out.append(contentsOf: #","seq":"#.utf8)
        out.append(contentsOf: String(seq).utf8)
        out.append(UInt8(ascii: "}"))
        return out
    }

    @Test func titleAndMetaRoundTripAndAreWrittenAsBefore() throws {
        for title in Self.titles {
            for meta in Self.metas {
                let r = TaskRecord(id: "x", title: title, owner: nil, total: nil, leaseSeconds: 30, expireSeconds: 300,
                                   meta: meta, now: 1_800_000_000_000)
                #expect(r.title == title)
                #expect(r.meta == meta)
                let json = r.json
                #expect(json.starts(with: Self.expectedPrefix(r, title: title)), "\(title)")
                #expect(json.suffix(Self.expectedSuffix(meta: meta, seq: r.seq).count).elementsEqual(Self.expectedSuffix(meta: meta, seq: r.seq)))
                // The generic parser and the stored-layout reader give the same record and bytes.
                let parsed = try #require(JSONParser.parse(json).objectValue)
                #expect(parsed["title"]?.stringValue == title)
                let decoded = try #require(TaskRecord.decode(json: json))
                #expect(decoded == r && decoded.json == json && decoded.title == title)
            }
        }
    }

    @Test func changingOneTextKeepsTheOther() {
        for title in Self.titles {
            var r = TaskRecord(id: "x", title: "first title, long enough", owner: nil, total: nil, leaseSeconds: 30,
                               expireSeconds: 300, meta: Self.metas[2], now: 0)
            r.title = title
            #expect(r.title == title && r.meta == Self.metas[2])
            r.meta = Self.metas[1]
            #expect(r.title == title && r.meta == Self.metas[1])
            r.setMetaJSON(Array("{}".utf8))
            #expect(r.title == title && r.meta == JSONObject() && r.metaJSON.isEmpty)
            var other = TaskRecord(id: "x", title: title, owner: nil, total: nil, leaseSeconds: 30, expireSeconds: 300,
                                   meta: JSONObject(), now: 0)
            #expect(other == r)
            other.title = title + "!"
            #expect(other != r)
        }
    }
}
