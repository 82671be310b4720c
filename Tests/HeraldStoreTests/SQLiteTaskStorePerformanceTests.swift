import Foundation
import Testing
@testable import HeraldStore

/// Figures for docs and the issue's closing note; printed, with bounds loose enough for a
/// loaded CI machine and a debug build.
@Suite(.serialized) struct SQLiteTaskStorePerformanceTests {
    /// A task as the actor writes it: ~450 bytes of JSON with a little meta.
    static func realisticJSON(_ i: Int) -> String {
        #"{"id":"task-\#(i)","title":"Export report \#(i) for the quarterly review","owner":"user\#(i % 97)","status":"succeeded","stale":false,"done":1000,"total":1000,"percent":100,"message":"done","rate":12.5,"eta_s":0,"error":null,"result":{"url":"https://example.com/r/\#(i)"},"attempt":1,"lease_s":30,"created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-01T00:01:00.000Z","started_at":"2026-01-01T00:00:01.000Z","finished_at":"2026-01-01T00:01:00.000Z","heartbeat_at":null,"meta":{"kind":"export"},"seq":\#(i)}"#
    }

    @Test func load100kTasksAnd10kEventsAfterReopen() throws {
        let dir = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let taskCount = 100_000
        let eventCount = 10_000
        var start = Date()
        do {
            let store = try SQLiteTaskStore(directory: dir)
            _ = try store.load()
            var changes: [StoreChange] = []
            changes.reserveCapacity(taskCount + eventCount)
            for i in 0..<taskCount {
                changes.append(.upsertTask(task("task-\(i)", status: "succeeded", seq: UInt64(i + 1), json: Self.realisticJSON(i))))
            }
            for i in 0..<eventCount {
                let seq = UInt64(taskCount - eventCount + i + 1)
                changes.append(.appendEvent(StoredEvent(seq: seq, taskID: "task-\(i)", owner: "user\(i % 97)",
                                                        payload: Array(Self.realisticJSON(i).utf8))))
            }
            try store.commit(changes, seq: UInt64(taskCount), epoch: "E", durable: true)
            try store.markCleanShutdown()
            store.close()  // before the reopen below, not whenever the last reference goes
        }
        let written = Date().timeIntervalSince(start)
        var size: Int64 = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            size += (try FileManager.default.attributesOfItem(atPath: dir + "/" + name)[.size] as? Int64) ?? 0
        }
        start = Date()
        let store = try SQLiteTaskStore(directory: dir)
        let opened = Date().timeIntervalSince(start)
        start = Date()
        let state = try store.load()
        let loaded = Date().timeIntervalSince(start)
        #expect(state.tasks.count == taskCount)
        #expect(state.events.count == eventCount)
        #expect(state.cleanShutdown)
        #expect(state.tasksByID["task-4242"]?.json == Array(Self.realisticJSON(4242).utf8))
        print(String(format: "HeraldStore: 100k tasks + 10k events: write %.2f s (one commit), %.1f MiB on disk, open %.0f ms, load %.0f ms",
                     written, Double(size) / 1_048_576, opened * 1000, loaded * 1000))
        #expect(opened + loaded < 15, "restart with 100k tasks took \(opened + loaded) s")
    }

    @Test func durableAndNonDurableCommitCosts() throws {
        let dir = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteTaskStore(directory: dir)
        _ = try store.load()
        var seq: UInt64 = 0
        func run(_ n: Int, batch: Int, durable: Bool) throws -> Double {
            let start = Date()
            for _ in 0..<n {
                var changes: [StoreChange] = []
                for b in 0..<batch {
                    seq += 1
                    changes.append(.upsertTask(task("t\(b)", status: "running", seq: seq, json: Self.realisticJSON(Int(seq)))))
                    changes.append(.appendEvent(StoredEvent(seq: seq, taskID: "t\(b)", owner: nil, payload: Array(Self.realisticJSON(Int(seq)).utf8))))
                }
                try store.commit(changes, seq: seq, epoch: "E", durable: durable)
            }
            return Date().timeIntervalSince(start) / Double(n) * 1_000_000
        }
        _ = try run(50, batch: 1, durable: false)  // warm up the statement cache
        let durable = try run(300, batch: 1, durable: true)
        let normal = try run(3_000, batch: 1, durable: false)
        let batch = try run(300, batch: 100, durable: false)
        print(String(format: "HeraldStore: commit of 1 task + 1 event: durable %.0f µs, non-durable %.0f µs; non-durable batch of 100 progress updates %.0f µs",
                     durable, normal, batch))
        #expect(normal < 50_000)
    }
}
