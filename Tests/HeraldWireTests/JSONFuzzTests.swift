import HeraldTestSupport
import Testing
@testable import HeraldWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Seeded random inputs: the parser must never crash, and whatever it accepts must survive
/// write → parse unchanged.
@Suite struct JSONFuzzTests {
    typealias RNG = FeedSplits.SeededGenerator

    static let seeds: [String] = [
        #"{"id":"t-1","title":"Build \"x\"","owner":null,"status":"running","stale":false,"done":3,"total":10,"percent":30.5,"message":"step\n3 😀","meta":{"a":[1,2.5e-3,-0,true,null,{}]},"seq":17}"#,
        #"[{"type":"task","topic":"tasks","seq":9007199254740993,"event":"progress","task":{"error":{"code":"x","message":"\u00e9\ud83d\ude00"}}}]"#,
        #"{"op":"subscribe","topic":"task:a.b:c","since":12,"epoch":"e1"}"#,
        #"[[[[[]]]],{"":{"":{"":""}}},"\/\b\f\n\r\t\\\"",1E+2,0.000001,123456789012345678901234567890]"#,
    ]

    /// Parses `bytes`; when it parses, the written form parses back to an equal value.
    static func check(_ bytes: [UInt8]) {
        guard let value = try? JSONParser.parse(bytes) else { return }
        let written = JSONWriter.encode(value)
        let again = try? JSONParser.parse(written)
        #expect(again == value, "\(String(decoding: bytes, as: UTF8.self))")
    }

    @Test func randomBytesNeverCrashTheParser() {
        var rng = RNG(seed: 8259)
        // Bytes drawn mostly from JSON's own alphabet, so inputs get past the first byte.
        let alphabet = Array(#"{}[],:"\ -+.eE0123456789tfnulrsa/bu"#.utf8) + [0x00, 0x09, 0x0A, 0x80, 0xC3, 0xA9, 0xED, 0xFF]
        for _ in 0..<10_000 {
            let count = Int.random(in: 0...40, using: &rng)
            var bytes: [UInt8] = []
            for _ in 0..<count {
                bytes.append(Bool.random(using: &rng)
                    ? alphabet.randomElement(using: &rng)!
                    : UInt8.random(in: 0...255, using: &rng))
            }
            Self.check(bytes)
        }
    }

    @Test func mutationsOfValidDocumentsNeverCrashTheParser() throws {
        var rng = RNG(seed: 6455)
        let docs = Self.seeds.map { Array($0.utf8) }
        for doc in docs { #expect(try JSONParser.parse(doc) != .null) }
        for round in 0..<10_000 {
            var bytes = docs[round % docs.count]
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                guard !bytes.isEmpty else { break }
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<5, using: &rng) {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: at)
                case 2: bytes.insert(Array(#"{}[],:"\0e-."#.utf8).randomElement(using: &rng)!, at: at)
                case 3: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...8, using: &rng)))
                default: bytes = Array(bytes[..<at])
                }
            }
            Self.check(bytes)
        }
    }

    @Test func randomValuesRoundTripThroughTheWriter() throws {
        var rng = RNG(seed: 2028)
        func randomString() -> String {
            let pieces = ["a", "Z", " ", "\"", "\\", "/", "\n", "\u{0}", "\u{1F}", "é", "€", "😀", "\u{2028}", "\u{FFFF}"]
            return (0..<Int.random(in: 0...6, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
        }
        func randomValue(_ depth: Int) -> JSONValue {
            switch Int.random(in: 0..<(depth > 4 ? 5 : 7), using: &rng) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &rng))
            case 2: return .number(Double(Int.random(in: -1_000_000...1_000_000, using: &rng)))
            case 3:
                let d = Double(bitPattern: rng.next())
                return .number(d.isFinite ? d : 0.5)
            case 4: return .string(randomString())
            case 5: return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in randomValue(depth + 1) })
            default:
                return .object(JSONObject((0..<Int.random(in: 0...4, using: &rng)).map { _ in
                    (key: randomString(), value: randomValue(depth + 1))
                }))
            }
        }
        for _ in 0..<2_000 {
            let value = randomValue(0)
            let written = JSONWriter.encode(value)
            #expect(try JSONParser.parse(written) == value)
            #expect(JSONWriter.encode(try JSONParser.parse(written)) == written)
        }
    }

    // MARK: Speed (printed, not asserted)

    static func taskListDocument(count: Int) -> [UInt8] {
        var out: [UInt8] = Array(#"{"tasks":["#.utf8)
        for k in 0..<count {
            if k > 0 { out.append(UInt8(ascii: ",")) }
            // About 100 bytes each, the size of a progress event's task without timestamps.
            let task: JSONValue = [
                "id": .string("task-\(k)"), "title": "Render", "status": k % 3 == 0 ? "running" : "queued",
                "done": .number(Double(k % 100)), "total": 100, "percent": .number(Double(k % 100) + 0.5),
                "message": "step \(k % 7) of 7", "stale": false,
            ]
            JSONWriter.write(task, into: &out)
        }
        out.append(contentsOf: Array(#"],"seq":10000}"#.utf8))
        return out
    }

    static func milliseconds(_ body: () throws -> Void) rethrows -> Double {
        var start = timespec()
        var end = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        try body()
        clock_gettime(CLOCK_MONOTONIC, &end)
        return Double(end.tv_sec - start.tv_sec) * 1e3 + Double(end.tv_nsec - start.tv_nsec) / 1e6
    }

    @Test func parsingAMegabyteOfTasksIsQuick() throws {
        let doc = Self.taskListDocument(count: 10_000)
        var parsed: JSONValue = .null
        var best = Double.infinity
        for _ in 0..<3 {
            best = min(best, try Self.milliseconds { parsed = try JSONParser.parse(doc) })
        }
        var written: [UInt8] = []
        let writeMs = Self.milliseconds { written = JSONWriter.encode(parsed) }
        #expect(parsed["tasks"]?.arrayValue?.count == 10_000)
        #expect(written == doc)
        let mb = Double(doc.count) / 1_048_576
        print("JSON speed: parsed \(doc.count) bytes (10,000 tasks) in \(best) ms = \(mb / best * 1000) MiB/s; wrote in \(writeMs) ms")
    }
}
