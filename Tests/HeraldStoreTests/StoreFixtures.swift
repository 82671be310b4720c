import Foundation
@testable import HeraldStore

/// The three stores the conformance suite runs against.
enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqliteFile, sqliteMemory, memory
    var description: String { rawValue }
}

/// A store plus, for the on-disk kind, its directory; `reopen()` is "the next process" for
/// the on-disk kind and a no-op for the others (they keep nothing across processes).
final class StoreHarness {
    let kind: StoreKind
    let directory: String?
    private(set) var store: any TaskStore

    init(_ kind: StoreKind) throws {
        self.kind = kind
        switch kind {
        case .sqliteFile:
            let dir = makeTemporaryPath()
            directory = dir
            store = try SQLiteTaskStore(directory: dir)
        case .sqliteMemory:
            directory = nil
            store = try SQLiteTaskStore(directory: ":memory:")
        case .memory:
            directory = nil
            store = MemoryTaskStore()
        }
    }

    /// Closes the on-disk store (releasing its connection and lock) and opens it again.
    func reopen() throws {
        guard kind == .sqliteFile, let directory else { return }
        // Closed explicitly: a reference kept a little longer (an #expect's captured value)
        // used to hold the lock into the reopen ("in use by another process", our own pid).
        (store as? SQLiteTaskStore)?.close()
        store = MemoryTaskStore()
        store = try SQLiteTaskStore(directory: directory)
    }

    deinit {
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }
}

/// A fresh, not yet existing path under the temporary directory.
func makeTemporaryPath(_ name: String = "herald-store") -> String {
    let base = FileManager.default.temporaryDirectory.path
    return (base as NSString).appendingPathComponent("\(name)-\(getpid())-\(UUID().uuidString)")
}

func task(_ id: String, status: String = "queued", seq: UInt64 = 1, json: String? = nil, at ms: Int64 = 1_700_000_000_000) -> StoredTask {
    StoredTask(
        id: id,
        json: Array((json ?? #"{"id":"\#(id)","status":"\#(status)","seq":\#(seq)}"#).utf8),
        status: status, seq: seq, updatedAtMs: ms)
}

func event(_ seq: UInt64, task id: String = "t1", owner: String? = "alice") -> StoredEvent {
    StoredEvent(seq: seq, taskID: id, owner: owner, payload: Array(#"{"type":"task","seq":\#(seq),"id":"\#(id)"}"#.utf8))
}

extension StoredState {
    /// Tasks by id: stores return tasks in no particular order.
    var tasksByID: [String: StoredTask] {
        Dictionary(tasks.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    }
}
