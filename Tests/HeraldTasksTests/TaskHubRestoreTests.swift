import Foundation
import HeraldStore
import HeraldWire
import Testing
@testable import HeraldTasks

/// A server reads its store on its main thread (`readStore`) and the hub restores from that
/// read on the actor: the same hub as `restore()` alone, and a hand-over ThreadSanitizer checks.
@Suite struct TaskHubRestoreTests {
    typealias Hub = TaskHubTests

    static func create(_ id: String, owner: String?) throws -> TaskRequest {
        var fields = ["\"id\":\"\(id)\"", "\"title\":\"T \(id)\"", "\"lease_s\":3600"]
        if let owner { fields.append("\"owner\":\"\(owner)\"") }
        return .operation(.create(try TaskValidation.create(Hub.body("{\(fields.joined(separator: ","))}"))))
    }

    /// A store with running, finished and owned tasks, shut down cleanly.
    static func filledStore(_ clock: Hub.Clock) async throws -> MemoryTaskStore {
        let store = MemoryTaskStore()
        let hub = TaskHub(store: store, clock: { clock.now })
        _ = try await hub.restore()
        for i in 0..<30 {
            let id = "t\(i)"
            _ = await hub.handle([try create(id, owner: i % 3 == 0 ? nil : "o\(i % 3)"), .operation(.start(id: id))])
            clock.now += 1_000
            if i % 2 == 0 { _ = await hub.handle([.operation(.complete(id: id, message: nil, result: nil))]) }
        }
        try await hub.shutdown()
        return store
    }

    @Test func aReadOnAnotherThreadRestoresTheSameHubAsRestoreAlone() async throws {
        let clock = Hub.Clock()
        let store = try await Self.filledStore(clock)
        // The reference: restore() on the actor, then a clean stop (the store stays as it was).
        let alone = TaskHub(store: store, clock: { clock.now })
        let aloneReport = try await alone.restore()
        try await alone.shutdown()
        // The server's way: the read on a thread of its own, the restore on the actor.
        let hub = TaskHub(store: store, clock: { clock.now })
        let read: StoredTasks = try await withCheckedThrowingContinuation { done in
            Thread.detachNewThread { done.resume(with: Result { try hub.readStore() }) }
        }
        let report = try await hub.restore(read)
        #expect(report.tasks == 30 && report.tasks == aloneReport.tasks && report.seq == aloneReport.seq && report.epochContinued)
        #expect(await hub.fingerprint() == alone.fingerprint())
        #expect(await hub.ownerIDs("o1") == alone.ownerIDs("o1"))
        #expect(await hub.ownerIDs("o1").count == 10)
    }
}
