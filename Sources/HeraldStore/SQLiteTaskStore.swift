import Foundation
import GRDB
import GRDBSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The embedded default store: `DIR/herald.sqlite`, SQLite in WAL mode through GRDB.
///
/// Why GRDB: it is the best-kept SQLite library for Swift (releases every few weeks, Swift 6
/// strict-concurrency clean, Linux in CI), it links the system's libsqlite3 (no vendored copy
/// to keep patched), and it gives a serialized `DatabaseQueue`, cached prepared statements and
/// migrations — all this store needs, with no ORM in the way.
///
/// Durability, which is the point of this type (see `TaskStore` for the guarantees):
/// - WAL mode, `synchronous = NORMAL` as the connection's default: a commit appends its pages
///   and a commit frame to `herald.sqlite-wal` with write(2) and no fsync. The bytes are in
///   the kernel's page cache, so the commit survives `kill -9` of this process, but not a
///   power loss or a kernel crash.
/// - A durable commit switches the connection to `synchronous = FULL` for that one
///   transaction. In WAL mode FULL means SQLite fsyncs the WAL right after writing the commit
///   frame, before COMMIT returns (https://www.sqlite.org/pragma.html#pragma_synchronous:
///   "WAL mode ... with synchronous=FULL ... the WAL file is synchronized after each
///   transaction is committed"). The WAL is append-only between checkpoints and every frame
///   carries a cumulative checksum, so that one fsync also makes every earlier non-durable
///   commit durable, and recovery after a power loss replays a prefix of the commits and
///   stops at the first torn frame. One fsync per durable commit is the minimum: a
///   `wal_checkpoint` would cost that fsync plus copying pages into the database file and a
///   second fsync.
/// - The database file and its directory entries are fsync'd once, when they are created
///   (SQLite itself fsyncs the directory when it creates the WAL file).
/// - On macOS fsync does not flush the drive's cache; `fullfsync` asks for F_FULLFSYNC there
///   (the pragmas are no-ops elsewhere).
///
/// One process per DIR: an exclusive `flock` on `DIR/herald.lock`, held while the store is
/// open, makes a second `herald serve --data DIR` fail at start-up with a clear line instead
/// of two authorities numbering events in one history. The kernel drops the lock when the
/// process dies, `kill -9` included.
///
/// Thread-safety: all state is immutable except the database, and GRDB's `DatabaseQueue`
/// serializes every access to it, so the type is `Sendable` without `@unchecked`.
public final class SQLiteTaskStore: TaskStore {
    /// The database file's name inside `--data DIR`.
    public static let fileName = "herald.sqlite"
    /// The lock file's name inside `--data DIR`.
    public static let lockFileName = "herald.lock"
    /// An in-memory database, nothing on disk (tests; `--data :memory:` uses `NullTaskStore`).
    public static let inMemory = ":memory:"
    /// Only the owner can read task data, which may hold users' paths and messages.
    static let directoryMode: mode_t = 0o700
    /// After a checkpoint, a WAL file larger than this is truncated back to it: one burst of
    /// progress must not keep its disk space forever; 64 MiB is ~16,000 4-KiB pages, far more
    /// than SQLite's 1,000-page auto-checkpoint needs, so truncation is rare.
    static let walSizeLimitBytes = 64 * 1024 * 1024
    /// How long a statement waits for a lock held by another connection (only a test's
    /// second read connection, or `sqlite3` run by an operator) before failing.
    static let busyTimeoutSeconds: TimeInterval = 5

    /// The directory as the user gave it, for error messages.
    public let directory: String
    let dbQueue: DatabaseQueue
    /// Held for the store's lifetime; nil for `:memory:` and for tests' second connections.
    private let lock: DirectoryLock?

    /// Opens (creating when missing) `directory/herald.sqlite`, or an in-memory database for
    /// `":memory:"`. Fails with one line, `cannot open --data DIR: reason`.
    public convenience init(directory: String) throws(StoreError) {
        try self.init(directory: directory, takeLock: true)
    }

    /// `takeLock: false` is for tests that open a second connection in the same process.
    init(directory: String, takeLock: Bool) throws(StoreError) {
        self.directory = directory
        if directory == Self.inMemory {
            lock = nil
            do {
                dbQueue = try DatabaseQueue(configuration: Self.configuration(inMemory: true))
                try Self.migrate(dbQueue)
            } catch {
                throw Self.error("open", directory, error)
            }
            return
        }
        guard !directory.isEmpty else {
            throw StoreError(description: "cannot open --data: the directory path is empty (use :memory: to keep nothing)")
        }
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw StoreError(description: "cannot open --data \(directory): it exists and is not a directory")
            }
        } else {
            try Self.makeDirectories(directory)
        }
        // A local first: if anything below throws, releasing it closes the fd exactly once
        // (a throwing init that has set every property also runs deinit).
        let lock = takeLock ? try DirectoryLock(directory) : nil
        self.lock = lock
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        let isNew = !fm.fileExists(atPath: path)
        do {
            dbQueue = try DatabaseQueue(path: path, configuration: Self.configuration(inMemory: false))
            try Self.migrate(dbQueue)
        } catch {
            throw Self.error("open", directory, error)
        }
        if isNew { Self.syncDirectory(directory) }
    }

    /// Closes the database and releases the directory lock now, rather than whenever the last
    /// reference goes (a reopen in the same process must not depend on when that is). The
    /// store must not be used afterwards.
    public func close() {
        try? dbQueue.close()
        lock?.release()
    }

    deinit {
        // Close the connection (SQLite checkpoints and removes the WAL) before letting the
        // next process in.
        try? dbQueue.close()
        // `lock` is released after this body: the next process gets in only now.
    }

    // MARK: TaskStore

    public func load() throws(StoreError) -> StoredState {
        var tasks: [StoredTask] = []
        var state = try read(columns: "id, json, status, seq, updated_at_ms", expecting: { tasks.reserveCapacity($0) }) { row, _ in
            tasks.append(StoredTask(
                id: try row.decode(String.self, atIndex: 0),
                json: try Self.bytes(row, 1),
                status: try row.decode(String.self, atIndex: 2),
                seq: UInt64(bitPattern: try row.decode(Int64.self, atIndex: 3)),
                updatedAtMs: try row.decode(Int64.self, atIndex: 4)))
        }
        state.tasks = tasks
        return state
    }

    public func load(expecting: (Int) -> Void, eachJSON: (UnsafeBufferPointer<UInt8>) -> Void) throws(StoreError) -> StoredState {
        try read(columns: "json", expecting: expecting) { _, statement in
            // The column straight from SQLite's row buffer: GRDB's `withUnsafeData` wraps it
            // in a `Data` object per row (an allocation and its release: 8 % of a restart's
            // instructions with 100,000 tasks). The pointer is valid until the next step of
            // this statement, and `eachJSON` keeps nothing of it (its contract: borrowed).
            let count = Int(sqlite3_column_bytes(statement, 0))
            guard count > 0, let bytes = sqlite3_column_blob(statement, 0) else {
                return eachJSON(UnsafeBufferPointer(start: nil, count: 0))
            }
            eachJSON(UnsafeBufferPointer(start: bytes.assumingMemoryBound(to: UInt8.self), count: count))
        }
    }

    /// The one read of a start: the tasks' `columns`, row by row, then the events and meta, in
    /// one read transaction (a consistent snapshot); then marks the store as running.
    private func read(columns: String, expecting: (Int) -> Void,
                      eachRow: (Row, SQLiteStatement) throws -> Void) throws(StoreError) -> StoredState {
        do {
            return try dbQueue.writeWithoutTransaction { db in
                var state: StoredState?
                // The file is read once from end to end: mapped, SQLite hands out its pages
                // instead of copying each 4 KiB page in with a `pread` (8 % of a restart with
                // 100,000 tasks). Unmapped again after the read, so the file's pages do not
                // stay in the process's memory.
                try db.execute(sql: "PRAGMA mmap_size = \(Self.loadMapBytes)")
                defer { try? db.execute(sql: "PRAGMA mmap_size = 0") }
                try db.inTransaction(.deferred) {
                    state = try Self.read(db, columns: columns, expecting, eachRow)
                    return .commit
                }
                // From here until markCleanShutdown() the store counts as running: a crash
                // leaves clean_shutdown = 0 for the next process to see.
                try Self.durably(db) {
                    try db.execute(sql: "INSERT INTO meta(key, value) VALUES ('clean_shutdown', 0) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
                }
                guard let state else { throw StoreError(description: "the read transaction returned nothing") }
                return state
            }
        } catch {
            throw Self.error("read", directory, error)
        }
    }

    /// How much of the file a start maps for its read (SQLite maps at most this much).
    static let loadMapBytes = 1 << 30

    public func commit(_ changes: [StoreChange], seq: UInt64, epoch: String, durable: Bool) throws(StoreError) {
        do {
            try dbQueue.writeWithoutTransaction { db in
                if durable {
                    try Self.durably(db) { try Self.apply(changes, seq: seq, epoch: epoch, db) }
                } else {
                    try db.inTransaction(.immediate) {
                        try Self.apply(changes, seq: seq, epoch: epoch, db)
                        return .commit
                    }
                }
            }
        } catch {
            throw Self.error("write", directory, error)
        }
    }

    public func trimEvents(keep: Int) throws(StoreError) {
        do {
            try dbQueue.write { db in
                if keep <= 0 {
                    try db.execute(sql: "DELETE FROM events")
                } else {
                    // Everything below the keep-th newest seq. An empty table makes the
                    // subquery NULL and `seq < NULL` deletes nothing.
                    try db.execute(
                        sql: "DELETE FROM events WHERE seq < (SELECT MIN(seq) FROM (SELECT seq FROM events ORDER BY seq DESC LIMIT ?))",
                        arguments: [keep])
                }
            }
        } catch {
            throw Self.error("write", directory, error)
        }
    }

    public func markCleanShutdown() throws(StoreError) {
        do {
            try dbQueue.writeWithoutTransaction { db in
                try Self.durably(db) {
                    try db.execute(sql: "INSERT INTO meta(key, value) VALUES ('clean_shutdown', 1) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
                }
                // Leave a small WAL behind; already durable, so a failure here costs nothing.
                if directory != Self.inMemory {
                    try? db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
                }
            }
        } catch {
            throw Self.error("write", directory, error)
        }
    }

    // MARK: Internals

    /// Runs `body` in one IMMEDIATE transaction whose COMMIT fsyncs the WAL
    /// (`synchronous = FULL`), then restores the cheap default. The pragma is set outside the
    /// transaction; nobody can interleave because GRDB's queue holds the connection.
    static func durably(_ db: Database, _ body: () throws -> Void) throws {
        try db.execute(sql: "PRAGMA synchronous = FULL")
        defer { try? db.execute(sql: "PRAGMA synchronous = NORMAL") }
        try db.inTransaction(.immediate) {
            try body()
            return .commit
        }
    }

    static func apply(_ changes: [StoreChange], seq: UInt64, epoch: String, _ db: Database) throws {
        let storedEpoch = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'epoch'")
        if let storedEpoch, storedEpoch != epoch {
            // A new epoch means the old history was lost or abandoned; its events must not be
            // served as part of the new one.
            try db.execute(sql: "DELETE FROM events")
        }
        for change in changes {
            switch change {
            case .upsertTask(let task):
                try db.cachedStatement(sql: """
                    INSERT INTO tasks(id, json, status, seq, updated_at_ms) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT(id) DO UPDATE SET json = excluded.json, status = excluded.status,
                        seq = excluded.seq, updated_at_ms = excluded.updated_at_ms
                    """).execute(arguments: [
                        task.id, Data(task.json), task.status, Int64(bitPattern: task.seq), task.updatedAtMs,
                    ])
            case .deleteTask(let id):
                try db.cachedStatement(sql: "DELETE FROM tasks WHERE id = ?").execute(arguments: [id])
            case .appendEvent(let event):
                try db.cachedStatement(sql: "INSERT OR REPLACE INTO events(seq, task_id, owner, payload) VALUES (?, ?, ?, ?)")
                    .execute(arguments: [Int64(bitPattern: event.seq), event.taskID, event.owner, Data(event.payload)])
            }
        }
        try db.cachedStatement(sql: """
            INSERT INTO meta(key, value) VALUES ('seq', ?), ('epoch', ?), ('clean_shutdown', 0)
            ON CONFLICT(key) DO UPDATE SET value = excluded.value
            """).execute(arguments: [Int64(bitPattern: seq), epoch])
    }

    static func read(_ db: Database, columns: String, _ expecting: (Int) -> Void,
                     _ eachRow: (Row, SQLiteStatement) throws -> Void) throws -> StoredState {
        var seq: UInt64 = 0
        var epoch: String?
        var cleanShutdown = false
        for row in try Row.fetchAll(db, sql: "SELECT key, value FROM meta") {
            switch try row.decode(String.self, atIndex: 0) {
            case "seq": seq = UInt64(bitPattern: try row.decode(Int64?.self, atIndex: 1) ?? 0)
            case "epoch": epoch = try row.decode(String?.self, atIndex: 1)
            case "clean_shutdown": cleanShutdown = (try row.decode(Int64?.self, atIndex: 1) ?? 0) != 0
            default: break
            }
        }
        expecting(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM tasks") ?? 0)
        let taskStatement = try db.makeStatement(sql: "SELECT \(columns) FROM tasks")
        let taskRows = try Row.fetchCursor(taskStatement)
        while let row = try taskRows.next() { try eachRow(row, taskStatement.sqliteStatement) }
        var events: [StoredEvent] = []
        let eventRows = try Row.fetchCursor(db, sql: "SELECT seq, task_id, owner, payload FROM events ORDER BY seq")
        while let row = try eventRows.next() {
            events.append(StoredEvent(
                seq: UInt64(bitPattern: try row.decode(Int64.self, atIndex: 0)),
                taskID: try row.decode(String.self, atIndex: 1),
                owner: try row.decode(String?.self, atIndex: 2),
                payload: try bytes(row, 3)))
        }
        return StoredState(tasks: [], events: events, seq: seq, epoch: epoch, cleanShutdown: cleanShutdown)
    }

    /// A BLOB column as bytes, copied once straight from SQLite's buffer. SQLite returns NULL
    /// for an empty BLOB, which reads as `[]`.
    private static func bytes(_ row: Row, _ index: Int) throws -> [UInt8] {
        try row.withUnsafeData(atIndex: index) { data in data.map { [UInt8]($0) } ?? [] }
    }

    static func configuration(inMemory: Bool) -> Configuration {
        var config = Configuration()
        config.label = "HeraldStore"
        config.busyMode = .timeout(busyTimeoutSeconds)
        if !inMemory {
            // GRDB: `PRAGMA journal_mode = WAL` + `synchronous = NORMAL` on open.
            config.journalMode = .wal
        }
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_size_limit = \(walSizeLimitBytes)")
            try db.execute(sql: "PRAGMA fullfsync = ON")
            try db.execute(sql: "PRAGMA checkpoint_fullfsync = ON")
        }
        return config
    }
}
