import Testing
@testable import HeraldTasks

/// `window=` and `owner=` of `GET /api/stats`: the limit and one past it, and every spelling
/// `Double(_:)` would read but the API does not take.
@Suite struct TaskStatsQueryTests {
    static func refused(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: TaskError.self, "\(text)", sourceLocation: sourceLocation) { try TaskStatsQuery.window(text) }
        do { _ = try TaskStatsQuery.window(text) } catch {
            #expect(error.status == 400 && error.code == "invalid_field" && error.message.hasPrefix("window:"), sourceLocation: sourceLocation)
        }
    }

    @Test func absentOrEmptyWindowIsTheHour() throws {
        #expect(try TaskStatsQuery.window(nil) == 3_600)
        #expect(try TaskStatsQuery.window("") == 3_600)
    }

    @Test func integerAndDecimalSecondsAreTaken() throws {
        #expect(try TaskStatsQuery.window("60") == 60)
        #expect(try TaskStatsQuery.window("0.5") == 0.5)
        #expect(try TaskStatsQuery.window("0.001") == 0.001)
        #expect(try TaskStatsQuery.window("007") == 7)
    }

    @Test func theLongestWindowIsThirtyDaysAndOneMillisecondMoreIsRefused() throws {
        #expect(try TaskStatsQuery.window("2592000") == TaskStatsQuery.maxWindowSeconds)
        #expect(try TaskStatsQuery.window("2592000.000") == TaskStatsQuery.maxWindowSeconds)
        Self.refused("2592000.001")
        Self.refused("2592001")
    }

    @Test func zeroNegativeAndNonNumbersAreRefused() {
        for text in ["0", "0.0", "-1", "-0.5", "+5", "abc", "nan", "NaN", "inf", "infinity", "1e3", "0x10", "1.", ".5", "1.2.3",
                     " 60", "60 ", "1,5", "99999999999999999999999999999999999999"] {
            Self.refused(text)
        }
    }

    @Test func ownerIsOptionalAndMustBeAnOwnerName() throws {
        #expect(try TaskStatsQuery.owner(nil) == nil)
        #expect(try TaskStatsQuery.owner("") == nil)
        #expect(try TaskStatsQuery.owner("alice.b_c-1") == "alice.b_c-1")
        #expect(try TaskStatsQuery.owner(String(repeating: "a", count: 64))?.count == 64)
        #expect(throws: TaskError.self) { try TaskStatsQuery.owner(String(repeating: "a", count: 65)) }
        #expect(throws: TaskError.self) { try TaskStatsQuery.owner("a b") }
    }
}
