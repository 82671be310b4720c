import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Files, locks and error lines: everything here runs once at open or on a failure.
extension SQLiteTaskStore {
    /// `mkdir -p` with mode 0700 for every directory it creates, each made durable in its
    /// parent. POSIX calls rather than FileManager, whose errors read "NSCocoaErrorDomain
    /// error 512" on Linux.
    static func makeDirectories(_ directory: String) throws(StoreError) {
        var missing: [String] = []
        var path = directory
        while !path.isEmpty, path != "/", path != ".", access(path, F_OK) != 0 {
            missing.append(path)
            path = parent(of: path)
        }
        for dir in missing.reversed() {
            if mkdir(dir, directoryMode) != 0 && errno != EEXIST {
                let what = dir == directory ? "" : " \(dir)"
                throw StoreError(description: "cannot open --data \(directory): cannot create the directory\(what): \(errnoText())")
            }
            syncDirectory(parent(of: dir))
        }
    }

    /// fsync(2) on a directory makes the entries created in it durable. Best effort: some
    /// file systems refuse it, and the data itself is synced by SQLite.
    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        Glibc.close(fd)
    }

    static func parent(of path: String) -> String {
        let parent = (path as NSString).deletingLastPathComponent
        return parent.isEmpty ? "." : parent
    }

    /// `cannot <verb> --data DIR: reason`, one line.
    static func error(_ verb: String, _ directory: String, _ error: any Error) -> StoreError {
        StoreError(description: "cannot \(verb) --data \(directory): \(reason(error))")
    }

    static func reason(_ error: any Error) -> String {
        switch error {
        case let error as StoreError:
            return error.description
        case let error as DatabaseError:
            let code = "SQLite error \(error.extendedResultCode.rawValue)"
            let sqlite = error.message.map { "\($0); \(code)" } ?? code
            switch error.resultCode {
            case .SQLITE_FULL:
                return "the disk is full (\(sqlite))"
            case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_AUTH:
                return "\(fileName) is not writable (\(sqlite))"
            case .SQLITE_CANTOPEN:
                return "cannot open \(fileName); check that the directory is writable (\(sqlite))"
            case .SQLITE_NOTADB:
                return "\(fileName) is not a SQLite database: move it away or restore a backup (\(sqlite))"
            case .SQLITE_CORRUPT:
                return "\(fileName) is corrupt: move it away or restore a backup (\(sqlite))"
            case .SQLITE_IOERR:
                return "I/O error (\(sqlite))"
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                return "\(fileName) is locked by another connection (\(sqlite))"
            default:
                return sqlite
            }
        default:
            return String(describing: error)
        }
    }

    static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}

/// The exclusive `flock` on `DIR/herald.lock`, held while the object lives. The fd is owned
/// here and closed exactly once, in deinit: a double close could close a file that another
/// thread just opened under the same number (SQLite's, say).
final class DirectoryLock: Sendable {
    let fd: Int32

    /// Takes the lock and writes our pid into the file, for the error line of the process
    /// that finds it taken.
    init(_ directory: String) throws(StoreError) {
        let path = (directory as NSString).appendingPathComponent(SQLiteTaskStore.lockFileName)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StoreError(description: "cannot open --data \(directory): cannot create \(SQLiteTaskStore.lockFileName): \(SQLiteTaskStore.errnoText())")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            if code == EWOULDBLOCK {
                let pid = n > 0 ? String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
                let who = pid.isEmpty ? "another process" : "another process (pid \(pid))"
                throw StoreError(description: "cannot open --data \(directory): it is in use by \(who)")
            }
            throw StoreError(description: "cannot open --data \(directory): cannot lock \(SQLiteTaskStore.lockFileName): \(String(cString: strerror(code)))")
        }
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 {
            _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        }
        self.fd = fd
    }

    /// Lets the next opener in now, without closing the fd (that stays deinit's, exactly once).
    func release() {
        flock(fd, LOCK_UN)
    }

    deinit {
        close(fd)  // also releases the flock
    }
}

// MARK: Test hooks (internal)

extension SQLiteTaskStore {
    /// Caps the database at its current size plus `extraPages`, so the disk-full path can be
    /// tested without filling a disk: SQLite then fails writes with SQLITE_FULL, exactly as
    /// on ENOSPC. A large value lifts the cap.
    func limitSize(extraPages: Int) throws {
        try dbQueue.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            _ = try Int.fetchOne(db, sql: "PRAGMA max_page_count = \(pages + extraPages)")
        }
    }
}

extension SQLiteTaskStore {
    /// The value of a `PRAGMA name` on the store's connection, as text.
    func pragma(_ name: String) throws -> String? {
        try dbQueue.read { db in try String.fetchOne(db, sql: "PRAGMA \(name)") }
    }

    /// Runs raw SQL on the store's connection, in a transaction (tests only).
    func execute(sql: String) throws {
        try dbQueue.write { db in try db.execute(sql: sql) }
    }
}
