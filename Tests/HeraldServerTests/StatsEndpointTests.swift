import HeraldAccess
import HeraldTasks
import HeraldWire
import Testing
@testable import HeraldServer

/// `GET /api/stats` on the loop: which request goes to the actor for whom, what is refused
/// before it, and `herald_task_duration_seconds` as /metrics writes it.
@Suite struct StatsEndpointTests {
    static let alice = Principal(subject: "alice", role: .viewer, expiresAt: nil)
    static let admin = Principal(subject: "root", role: .admin, expiresAt: nil)

    static func request(_ target: String, as principal: Principal) throws(TaskError) -> TaskRequest {
        try StatsEndpoint.request(HTTPRequestHead(method: "GET", target: target, headers: [:]), as: principal)
    }

    @Test func aViewersRequestIsScopedToItsOwnerWhateverOwnerSays() throws {
        for target in ["/api/stats", "/api/stats?owner=bob&window=60", "/api/stats?owner=not%20a%20name&window=60"] {
            let request = try Self.request(target, as: Self.alice)
            guard case .scoped("alice", .statistics(nil, _)) = request else {
                Issue.record("\(target): \(request)")
                continue
            }
        }
    }

    @Test func anAdminNamesAnyOwnerOrNoneForAll() throws {
        guard case .statistics("bob", 60) = try Self.request("/api/stats?owner=bob&window=60", as: Self.admin),
              case .statistics(nil, 3_600) = try Self.request("/api/stats?owner=", as: Self.admin),
              case .statistics(nil, 0.5) = try Self.request("/api/stats?window=0.5", as: .unrestricted) else {
            Issue.record("not the admin's request")
            return
        }
        #expect(throws: TaskError.self) { try Self.request("/api/stats?owner=a%20b", as: Self.admin) }
    }

    @Test func aBadWindowIsRefusedForEveryRole() {
        for principal in [Self.alice, Self.admin] {
            for window in ["0", "-5", "nan", "2592001", "1e3", "x"] {
                #expect(throws: TaskError.self) { try Self.request("/api/stats?window=\(window)", as: principal) }
            }
        }
    }

    // MARK: /metrics

    @Test func theHistogramIsCumulativeWithSumAndCountForEachOutcome() {
        var durations = TaskDurationHistograms()
        durations[.succeeded].observe(milliseconds: 100)
        durations[.succeeded].observe(milliseconds: 1_234)
        durations[.succeeded].observe(milliseconds: 4_000_000)
        let text = MetricsEndpoint.renderDurations(durations)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[1] == "# TYPE herald_task_duration_seconds histogram")
        let succeeded = lines.filter { $0.contains("outcome=\"succeeded\"") }
        #expect(succeeded == [
            #"herald_task_duration_seconds_bucket{outcome="succeeded",le="0.1"} 1"#,
            #"herald_task_duration_seconds_bucket{outcome="succeeded",le="0.5"} 1"#,
            #"herald_task_duration_seconds_bucket{outcome="succeeded",le="1"} 1"#,
            #"herald_task_duration_seconds_bucket{outcome="succeeded",le="5"} 2"#,
            #"herald_task_duration_seconds_bucket{outcome="succeeded",le="10"} 2"#,
            #"herald_task_duration_seconds_bucket{outcome="succeeded",le="30"} 2"#,
            #"herald_task_duration_seconds_bucket{outcome="succeeded",le="60"} 2"#,
            #"herald_task_duration_seconds_bucket{outcome="succeeded",le="300"} 2"#,
            #"herald_task_duration_seconds_bucket{outcome="succeeded",le="600"} 2"#,
            #"herald_task_duration_seconds_bucket{outcome="succeeded",le="1800"} 2"#,
            #"herald_task_duration_seconds_bucket{outcome="succeeded",le="3600"} 2"#,
            #"herald_task_duration_seconds_bucket{outcome="succeeded",le="+Inf"} 3"#,
            #"herald_task_duration_seconds_sum{outcome="succeeded"} 4001.334"#,
            #"herald_task_duration_seconds_count{outcome="succeeded"} 3"#,
        ])
        for outcome in ["failed", "cancelled"] {  // present from the start, at zero
            #expect(lines.contains("herald_task_duration_seconds_bucket{outcome=\"\(outcome)\",le=\"+Inf\"} 0"))
            #expect(lines.contains("herald_task_duration_seconds_count{outcome=\"\(outcome)\"} 0"))
        }
    }

    @Test func millisecondsAreWrittenAsExactSeconds() {
        #expect(MetricsEndpoint.seconds(0) == "0")
        #expect(MetricsEndpoint.seconds(100) == "0.1")
        #expect(MetricsEndpoint.seconds(5_000) == "5")
        #expect(MetricsEndpoint.seconds(1_005) == "1.005")
        #expect(MetricsEndpoint.seconds(61_230) == "61.23")
    }
}
