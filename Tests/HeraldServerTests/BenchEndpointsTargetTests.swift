import Testing

@testable import HeraldServer

/// `--bench`'s paths read on their bytes: which are bench paths, their topics' registry names
/// (a leading NUL keeps them apart from task topics), and the topic limits at and past them.
@Suite struct BenchEndpointsTargetTests {
    @Test func subscribeAndPublishPathsNameTheirTopic() {
        #expect(BenchEndpoints.target(of: "/sub/t1") == .subscribe("\u{0}t1"))
        #expect(BenchEndpoints.target(of: "/pub/t1") == .publish("\u{0}t1"))
        #expect(BenchEndpoints.target(of: "/pub/a%20b") == .publish("\u{0}a%20b"))  // raw, as before: not decoded
        let long = String(repeating: "x", count: 40)  // past a small string's 15 bytes
        #expect(BenchEndpoints.target(of: "/pub/" + long) == .publish("\u{0}" + long))
    }

    @Test func topicsAtAndPastTheLimit() {
        let atLimit = String(repeating: "t", count: BenchEndpoints.maxTopicBytes)
        #expect(BenchEndpoints.target(of: "/pub/" + atLimit) == .publish("\u{0}" + atLimit))
        #expect(BenchEndpoints.target(of: "/pub/" + atLimit + "t") == .badTopic)
        #expect(BenchEndpoints.target(of: "/sub/") == .badTopic)
        #expect(BenchEndpoints.target(of: "/pub/") == .badTopic)
        #expect(BenchEndpoints.target(of: "/pub/a/b") == .badTopic)
        #expect(BenchEndpoints.target(of: "/sub/a/") == .badTopic)
    }

    @Test func otherPathsAreNotBenchPaths() {
        for path in ["/", "/sub", "/pub", "/pubx/t1", "/sab/t1", "/Pub/t1", "/api/tasks", "/pu/t1", "/xub/t1", "/su/", ""] {
            #expect(BenchEndpoints.target(of: path) == .other, "\(path)")
        }
    }
}
