import Foundation
import Testing
@testable import HeraldStore

/// What only the on-disk store has: files, directories, locks, errors.
@Suite struct SQLiteTaskStoreTests {
    @Test func missingDirectoryIsCreatedWithIntermediatesAndMode0700() throws {
        let root = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = root + "/a/b/data"
        let store = try SQLiteTaskStore(directory: dir)
        try store.commit([.upsertTask(task("a"))], seq: 1, epoch: "E", durable: true)
        var st = stat()
        #expect(stat(dir, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o700)
        #expect(FileManager.default.fileExists(atPath: dir + "/herald.sqlite"))
        #expect(FileManager.default.fileExists(atPath: dir + "/herald.sqlite-wal"))  // WAL mode
    }

    @Test func databaseIsInWALModeWithSynchronousNormalBetweenDurableCommits() throws {
        let dir = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteTaskStore(directory: dir)
        try store.commit([.upsertTask(task("a"))], seq: 1, epoch: "E", durable: true)
        #expect(try store.pragma("journal_mode") == "wal")
        #expect(try store.pragma("synchronous") == "1")  // NORMAL: the durable commit restored it
    }

    /// A start maps the file for its one read (no 4 KiB `pread` per page) and unmaps it after:
    /// the file's pages must not stay in the server's memory while it runs.
    @Test func loadUnmapsTheFileAfterItsRead() throws {
        let dir = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteTaskStore(directory: dir)
        try store.commit([.upsertTask(task("a")), .upsertTask(task("b", status: "running"))], seq: 2, epoch: "E", durable: true)
        var read: [String] = []
        _ = try store.load(expecting: { _ in }, eachJSON: { read.append(String(decoding: $0, as: UTF8.self)) })
        #expect(read.sorted() == [task("a"), task("b", status: "running")].map { String(decoding: $0.json, as: UTF8.self) })
        #expect(try store.pragma("mmap_size") == "0")
        _ = try store.load()
        #expect(try store.pragma("mmap_size") == "0")
    }

    @Test func memoryDirectoryKeepsNothingOnDisk() throws {
        let before = try FileManager.default.contentsOfDirectory(atPath: ".")
        do {
            let store = try SQLiteTaskStore(directory: ":memory:")
            try store.commit([.upsertTask(task("a")), .appendEvent(event(1))], seq: 1, epoch: "E", durable: true)
            try store.markCleanShutdown()
            #expect(try store.load().tasks.count == 1)
        }
        let again = try SQLiteTaskStore(directory: ":memory:")
        let state = try again.load()
        #expect(state.tasks.isEmpty && state.epoch == nil)
        #expect(!FileManager.default.fileExists(atPath: ":memory:"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: ".").filter { $0.contains("herald.sqlite") }
                == before.filter { $0.contains("herald.sqlite") })
    }

    @Test func aRegularFileAsTheDirectoryIsAClearError() throws {
        let path = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(FileManager.default.createFile(atPath: path, contents: Data("x".utf8)))
        let error = #expect(throws: StoreError.self) { try SQLiteTaskStore(directory: path) }
        #expect(error?.description == "cannot open --data \(path): it exists and is not a directory")
    }

    @Test func aDirectoryUnderARegularFileIsAClearError() throws {
        let file = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
        let error = #expect(throws: StoreError.self) { try SQLiteTaskStore(directory: file + "/data") }
        let text = error?.description ?? ""
        #expect(text == "cannot open --data \(file)/data: cannot create the directory: Not a directory")
        #expect(!text.contains("\n"))
        print("unwritable path →", text)
    }

    @Test(.enabled(if: geteuid() != 0, "root writes through mode bits"))
    func aReadOnlyDirectoryIsAClearError() throws {
        let dir = makeTemporaryPath()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { chmod(dir, 0o700); try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o500)
        let error = #expect(throws: StoreError.self) { try SQLiteTaskStore(directory: dir) }
        #expect(error?.description.hasPrefix("cannot open --data \(dir): ") == true)
    }

    @Test func aFileThatIsNotADatabaseIsAClearError() throws {
        let dir = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let garbage = Data(String(repeating: "this is not a database\n", count: 400).utf8)
        #expect(FileManager.default.createFile(atPath: dir + "/herald.sqlite", contents: garbage))
        let error = #expect(throws: StoreError.self) { try SQLiteTaskStore(directory: dir) }
        let text = error?.description ?? ""
        #expect(text.hasPrefix("cannot open --data \(dir): herald.sqlite is not a SQLite database"))
        print("corrupt file →", text)
    }

    @Test func aDatabaseDamagedInTheMiddleFailsWithAStoreErrorNotACrash() throws {
        let dir = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let store = try SQLiteTaskStore(directory: dir)
            let json = String(repeating: "x", count: 300)
            try store.commit((0..<2_000).map { .upsertTask(task("task-\($0)", json: json)) }, seq: 1, epoch: "E", durable: true)
            try store.markCleanShutdown()  // checkpoints: everything is in herald.sqlite now
            store.close()  // before the reopen below, not whenever the last reference goes
        }
        // Overwrite pages 3 and later (the b-tree pages) with garbage, keeping the header.
        let handle = try #require(FileHandle(forUpdatingAtPath: dir + "/herald.sqlite"))
        try handle.seek(toOffset: 2 * 4096)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: 64 * 4096))
        try handle.close()
        let failure = #expect(throws: StoreError.self) {
            let store = try SQLiteTaskStore(directory: dir)
            defer { store.close() }
            _ = try store.load()
        }
        let text = try #require(failure).description
        #expect(text.hasPrefix("cannot "))
        #expect(text.contains("--data \(dir): "))
        print("damaged file →", text)
    }

    @Test func closeReleasesTheLockWhileTheStoreIsStillReferenced() throws {
        let dir = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try SQLiteTaskStore(directory: dir)
        try first.commit([.upsertTask(task("a"))], seq: 1, epoch: "E", durable: true)
        first.close()
        let second = try SQLiteTaskStore(directory: dir)
        #expect(try second.load().tasks == [task("a")])
        withExtendedLifetime(first) {}
    }

    @Test func aSecondStoreOnTheSameDirectoryIsRefusedWhileTheFirstIsOpen() throws {
        let dir = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var first: SQLiteTaskStore? = try SQLiteTaskStore(directory: dir)
        let error = #expect(throws: StoreError.self) { try SQLiteTaskStore(directory: dir) }
        #expect(error?.description == "cannot open --data \(dir): it is in use by another process (pid \(getpid()))")
        first?.close()  // closing releases the lock
        first = nil
        try SQLiteTaskStore(directory: dir).close()
    }

    /// Why every reopen in these tests closes the store first rather than dropping it: a child
    /// forked meanwhile (the crash test forks and execs this binary, in parallel with the other
    /// suites) holds a copy of every descriptor until its exec, the lock's included. Dropping
    /// the last reference closes only our copy, so the directory stays locked by "another
    /// process" — with our own pid in herald.lock, the symptom the store tests sometimes hit.
    /// `close()` unlocks the open file description itself, which every copy shares.
    @Test func closeReleasesTheLockEvenWhileAForkedChildHoldsACopyOfItsDescriptor() throws {
        let dropped = makeTemporaryPath()
        let closed = makeTemporaryPath()
        defer { for dir in [dropped, closed] { try? FileManager.default.removeItem(atPath: dir) } }
        var droppedStore: SQLiteTaskStore? = try SQLiteTaskStore(directory: dropped)
        let closedStore = try SQLiteTaskStore(directory: closed)
        let child = fork()
        if child == 0 {
            while true { pause() }  // async-signal-safe only, until SIGKILL
        }
        try #require(child > 0)
        defer {
            kill(child, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(child, &status, 0)
        }
        droppedStore = nil
        let error = #expect(throws: StoreError.self) { try SQLiteTaskStore(directory: dropped) }
        #expect(error?.description == "cannot open --data \(dropped): it is in use by another process (pid \(getpid()))")
        closedStore.close()
        try SQLiteTaskStore(directory: closed).close()
        _ = droppedStore
    }

    @Test(arguments: [false, true])
    func diskFullIsAClearErrorAndTheFailedCommitChangesNothing(durable: Bool) throws {
        let dir = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteTaskStore(directory: dir)
        _ = try store.load()
        try store.commit([.upsertTask(task("a")), .appendEvent(event(1))], seq: 1, epoch: "E", durable: true)
        try store.limitSize(extraPages: 2)
        let big = String(repeating: "y", count: 256 * 1024)
        let error = #expect(throws: StoreError.self) {
            try store.commit([.deleteTask(id: "a"), .upsertTask(task("big", json: big)), .appendEvent(event(2))],
                             seq: 2, epoch: "E", durable: durable)
        }
        let text = error?.description ?? ""
        #expect(text.hasPrefix("cannot write --data \(dir): the disk is full"))
        print("disk full →", text)
        // Nothing of the failed transaction is visible, in this process or the next.
        var state = try store.load()
        #expect(state.tasks == [task("a")] && state.events == [event(1)] && state.seq == 1)
        // Space comes back: the store works again, with the cheap default restored.
        try store.limitSize(extraPages: 1_000_000)
        try store.commit([.upsertTask(task("b"))], seq: 2, epoch: "E", durable: false)
        #expect(try store.pragma("synchronous") == "1")
        state = try store.load()
        #expect(Set(state.tasksByID.keys) == ["a", "b"])
    }

    @Test func aNewerSchemaIsRefused() throws {
        let dir = makeTemporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let store = try SQLiteTaskStore(directory: dir)
            try store.execute(sql: "UPDATE meta SET value = 99 WHERE key = 'schema_version'")
            store.close()
        }
        let error = #expect(throws: StoreError.self) { try SQLiteTaskStore(directory: dir) }
        #expect(error?.description == "cannot open --data \(dir): it was written by a newer Herald (schema 99, this one knows 1)")
    }

    @Test func anEmptyPathIsAClearError() {
        let error = #expect(throws: StoreError.self) { try SQLiteTaskStore(directory: "") }
        #expect(error?.description == "cannot open --data: the directory path is empty (use :memory: to keep nothing)")
    }

    @Test func aRelativeDirectoryIsCreatedUnderTheWorkingDirectory() throws {
        let name = "herald-store-relative-\(getpid())-\(UUID().uuidString)"
        let cwd = FileManager.default.currentDirectoryPath
        defer { try? FileManager.default.removeItem(atPath: cwd + "/" + name) }
        let store = try SQLiteTaskStore(directory: name + "/data")
        try store.commit([.upsertTask(task("a"))], seq: 1, epoch: "E", durable: true)
        #expect(FileManager.default.fileExists(atPath: cwd + "/" + name + "/data/herald.sqlite"))
    }

    @Test func storeErrorIsOneLine() {
        #expect(StoreError(description: "cannot open --data x: a\nb\r\nc").description == "cannot open --data x: a b c")
    }
}
