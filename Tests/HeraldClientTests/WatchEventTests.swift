import HeraldWire
import Testing
@testable import HeraldClient

/// Decoding `/ws` frames as the server sends them, and the plain one-line-per-event format.
@Suite struct WatchEventTests {
    static let taskJSON = """
        {"id":"build-7","title":"Nightly export","owner":"alice","status":"running","stale":false,"done":450,"total":1000,\
        "percent":45,"message":"copying","rate":7500,"eta_s":0.1,"error":null,"result":null,"attempt":1,"lease_s":5,\
        "expire_s":50,"created_at":"2026-11-23T21:14:36.622Z","updated_at":"2026-11-23T21:14:36.792Z",\
        "started_at":"2026-11-23T21:14:36.732Z","finished_at":null,"heartbeat_at":"2026-11-23T21:14:36.792Z","meta":{"k":"v"},"seq":3}
        """

    @Test func decodesATaskEvent() throws {
        let event = try #require(WatchEvent.decode("{\"type\":\"task\",\"topic\":\"tasks\",\"seq\":3,\"event\":\"progress\",\"task\":\(Self.taskJSON)}"))
        guard case .task(let topic, let seq, let name, let task) = event else {
            Issue.record("\(event)")
            return
        }
        #expect(topic == "tasks" && seq == 3 && name == "progress")
        #expect(task == WatchTask(
            id: "build-7", title: "Nightly export", owner: "alice", status: "running", done: 450, total: 1000, percent: 45,
            message: "copying", rate: 7500, etaSeconds: 0.1, createdAt: "2026-11-23T21:14:36.622Z",
            updatedAt: "2026-11-23T21:14:36.792Z", startedAt: "2026-11-23T21:14:36.732Z", seq: 3))
    }

    @Test func decodesSnapshotResumedRemovedAndErrors() {
        #expect(WatchEvent.decode("""
            {"type":"snapshot","topic":"tasks","epoch":"ab12","seq":9,"recovered":false,"counts":{"running":1,"failed":3},"tasks":[\(Self.taskJSON)]}
            """) == .snapshot(topic: "tasks", epoch: "ab12", seq: 9, recovered: false, counts: ["running": 1, "failed": 3],
                              tasks: [WatchTask(json: try! JSONParser.parse(Self.taskJSON))!]))
        #expect(WatchEvent.decode("{\"type\":\"resumed\",\"topic\":\"tasks\",\"epoch\":\"ab12\",\"since\":7}") == .resumed(topic: "tasks", epoch: "ab12", since: 7))
        #expect(WatchEvent.decode("{\"type\":\"removed\",\"topic\":\"tasks\",\"seq\":10,\"id\":\"x\"}") == .removed(topic: "tasks", seq: 10, id: "x"))
        #expect(WatchEvent.decode("{\"type\":\"error\",\"code\":\"invalid_topic\",\"message\":\"no\"}") == .error(code: "invalid_topic", message: "no"))
        #expect(WatchEvent.decode("{\"type\":\"pong\"}") == .other(type: "pong"))
    }

    @Test func refusesWhatIsNotAnEvent() {
        for text in ["", "nope", "[]", "{}", "{\"type\":1}", "{\"type\":\"task\",\"seq\":1}", "{\"type\":\"removed\",\"seq\":1.5,\"id\":\"x\"}",
                     "{\"type\":\"snapshot\",\"seq\":1}", "{\"type\":\"task\",\"seq\":1,\"event\":\"e\",\"task\":{\"id\":\"x\"}}"] {
            #expect(WatchEvent.decode(text) == nil, "\(text)")
        }
    }

    @Test func failedTaskKeepsItsErrorAndRunTime() throws {
        let json = "{\"id\":\"f\",\"status\":\"failed\",\"error\":{\"code\":\"lease_expired\",\"message\":\"gone\"},\"started_at\":\"2026-11-23T21:00:00.000Z\",\"finished_at\":\"2026-11-23T21:05:30.250Z\"}"
        let task = try #require(WatchTask(json: try JSONParser.parse(json)))
        #expect(task.errorCode == "lease_expired" && task.errorMessage == "gone")
        #expect(task.runSeconds == 330.25)
    }

    @Test func timestampsParseToMilliseconds() {
        #expect(Timestamp.milliseconds("1970-01-01T00:00:00.000Z") == 0)
        #expect(Timestamp.milliseconds("1970-01-01T00:00:01Z") == 1000)
        #expect(Timestamp.milliseconds("2000-03-01T00:00:00.5Z") == 951_868_800_500)
        #expect(Timestamp.milliseconds("2026-11-23T20:10:05.123Z") == 1_795_464_605_123)
        for bad in ["", "2026-11-23 20:10:05Z", "2026-11-23T20:10:05.123", "2026-13-01T00:00:00Z", "2026-11-23T20:10:05.Z", "2026-11-23T20:10:05.12aZ"] {
            #expect(Timestamp.milliseconds(bad) == nil, "\(bad)")
        }
    }

    // MARK: - Plain lines

    @Test func plainLinesForEveryKindOfEvent() throws {
        let task = try #require(WatchTask(json: try JSONParser.parse(Self.taskJSON)))
        #expect(WatchEventLine.lines(for: .task(topic: "tasks", seq: 12, event: "progress", task: task))
            == ["seq=12 task=build-7 event=progress status=running 45.0% 450/1000 \"copying\""])
        var stale = task
        stale.stale = true
        stale.message = "line\nbreak \"quoted\" \u{1B}[31m"
        #expect(WatchEventLine.lines(for: .task(topic: "tasks", seq: 13, event: "stale", task: stale))
            == ["seq=13 task=build-7 event=stale status=running stale 45.0% 450/1000 \"line\\nbreak \\\"quoted\\\" \\u001b[31m\""])
        let failed = WatchTask(id: "f", status: "failed", done: 7, message: "working", errorCode: "lease_expired", errorMessage: "no heartbeat")
        #expect(WatchEventLine.lines(for: .task(topic: "tasks", seq: 20, event: "failed", task: failed))
            == ["seq=20 task=f event=failed status=failed 7 error=lease_expired \"no heartbeat\""])
        let queued = WatchTask(id: "q", status: "queued")
        #expect(WatchEventLine.lines(for: .task(topic: "tasks", seq: 1, event: "created", task: queued)) == ["seq=1 task=q event=created status=queued"])
        #expect(WatchEventLine.lines(for: .removed(topic: "tasks", seq: 21, id: "build-7")) == ["seq=21 task=build-7 event=removed"])
        #expect(WatchEventLine.lines(for: .resumed(topic: "tasks", epoch: "ab", since: 120)) == ["seq=120 event=resumed topic=tasks epoch=ab"])
        #expect(WatchEventLine.lines(for: .error(code: "invalid_topic", message: "bad \"x\"")) == ["event=error code=invalid_topic \"bad \\\"x\\\"\""])
        #expect(WatchEventLine.lines(for: .other(type: "pong")) == [])
    }

    @Test func snapshotLinesListTheTasksOldestFirst() {
        let a = WatchTask(id: "a", status: "running", done: 1, total: 10, percent: 10, createdAt: "2026-01-01T00:00:02.000Z", seq: 118)
        let b = WatchTask(id: "b", status: "succeeded", createdAt: "2026-01-01T00:00:01.000Z", seq: 100)
        #expect(WatchEventLine.lines(for: .snapshot(topic: "owner:bob", epoch: "3f2a", seq: 120, recovered: true, counts: [:], tasks: [a, b])) == [
            "seq=120 event=snapshot topic=owner:bob epoch=3f2a recovered=true tasks=2",
            "seq=100 task=b event=snapshot status=succeeded",
            "seq=118 task=a event=snapshot status=running 10.0% 1/10",
        ])
    }

    @Test func oddValuesAreQuotedSoFieldsNeverSplit() {
        #expect(WatchEventLine.token("a b") == "\"a b\"")
        #expect(WatchEventLine.token("") == "\"\"")
        #expect(WatchEventLine.token("task:a") == "task:a")
        #expect(WatchEventLine.quote("\u{85}\u{7F}\u{2028}") == "\"\\u0085\\u007f\\u2028\"")
    }
}
