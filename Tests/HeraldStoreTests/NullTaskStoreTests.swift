import Foundation
import Testing
@testable import HeraldStore

/// `--data :memory:` must not keep a second copy of every task: the task actor holds them all.
@Suite struct NullTaskStoreTests {
    @Test func memoryDataKeepsNoCopyOfTasksOrEvents() throws {
        let store = try TaskStores.open(directory: ":memory:")
        #expect(store is NullTaskStore)
        _ = try store.load()
        let events = (1...3).map { StoredEvent(seq: UInt64($0), taskID: "t\($0)", owner: nil, payload: Array("{}".utf8)) }
        try store.commit([.upsertTask(task("t1")), .upsertTask(task("t2"))] + events.map { .appendEvent($0) },
                         seq: 3, epoch: "e1", durable: true)
        try store.trimEvents(keep: 10)
        try store.markCleanShutdown()
        let loaded = try store.load()
        #expect(loaded.tasks.isEmpty)
        #expect(loaded.events.isEmpty)
        #expect(loaded.seq == 0)
        #expect(loaded.epoch == nil)
        #expect(loaded.cleanShutdown == false)
    }

    @Test func aDirectoryStillOpensSQLite() throws {
        let directory = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try TaskStores.open(directory: directory)
        defer { (store as? SQLiteTaskStore)?.close() }
        #expect(store is SQLiteTaskStore)
        try store.commit([.upsertTask(task("t1"))], seq: 1, epoch: "e1", durable: true)
        #expect(try store.load().tasks.map(\.id) == ["t1"])
    }

    @Test func anEmptyDirectoryIsStillRefused() {
        #expect(throws: StoreError.self) { _ = try TaskStores.open(directory: "") }
    }
}
