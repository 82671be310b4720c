import Dispatch
import Glibc
import Testing
@testable import HeraldLoop

private func contents(_ path: String) -> String? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 256)
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    return n < 0 ? nil : String(decoding: buffer[0..<n], as: UTF8.self)
}

@Suite(.serialized) struct FileLockTests {
    @Test func secondLockOnTheSamePathIsRefusedEvenInOneProcess() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("broker.lock")
        let first = try #require(try FileLock.tryLock(path: path))
        // flock belongs to the open file description, so a second open conflicts here too.
        #expect(try FileLock.tryLock(path: path) == nil)
        #expect(first.isLocked)
        first.unlock()
        #expect(!first.isLocked)
        let again = try FileLock.tryLock(path: path)
        #expect(again != nil)
    }

    @Test func holderPIDIsWrittenAndFileIsPrivate() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("broker.lock")
        // Leftovers from an earlier holder are replaced, not appended to.
        let fd = open(path, O_CREAT | O_WRONLY, mode_t(0o600))
        _ = "99999999\ngarbage that is longer than a pid\n".withCString { write(fd, $0, strlen($0)) }
        close(fd)
        let lock = try #require(try FileLock.tryLock(path: path))
        #expect(FileLock.holderPID(path: path) == getpid())
        #expect(contents(path) == "\(getpid())\n")
        lock.unlock()
        #expect(FileLock.holderPID(path: path) == nil, "an orderly unlock clears the pid")

        let fresh = dir.file("new.lock")
        let created = try #require(try FileLock.tryLock(path: fresh))
        var st = stat()
        #expect(stat(fresh, &st) == 0)
        #expect(st.st_mode & 0o7777 == 0o600)
        _ = created
    }

    @Test func holderPIDOfMissingOrGarbledFileIsNil() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        #expect(FileLock.holderPID(path: dir.file("missing")) == nil)
        let path = dir.file("garbled")
        let fd = open(path, O_CREAT | O_WRONLY, mode_t(0o600))
        _ = "not a pid\n".withCString { write(fd, $0, strlen($0)) }
        close(fd)
        #expect(FileLock.holderPID(path: path) == nil)
    }

    @Test func deinitReleasesTheLock() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("broker.lock")
        func holdBriefly() throws {
            let lock = try FileLock.tryLock(path: path)
            #expect(lock != nil)
            #expect(try FileLock.tryLock(path: path) == nil)
        }
        try holdBriefly()
        #expect(try FileLock.tryLock(path: path) != nil)
    }

    @Test func anotherProcessCannotTakeTheLockWhileWeHoldIt() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("broker.lock")
        let lock = try #require(try FileLock.tryLock(path: path))
        // util-linux flock(1) -n exits 1 when the lock is taken.
        #expect(runProcess("/usr/bin/flock", ["-n", path, "true"]) == 1)
        lock.unlock()
        #expect(runProcess("/usr/bin/flock", ["-n", path, "true"]) == 0)
    }

    @Test func weCannotTakeTheLockWhileAnotherProcessHoldsItAndGetItWhenItDies() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("broker.lock")
        // -o: flock(1) closes the lock fd before running `sleep`, so only flock itself holds it
        // (without it the forked `sleep` inherits the fd and keeps the lock after flock dies —
        // the same trap a supervisor would fall into without O_CLOEXEC).
        let child = try #require(spawnProcess("/usr/bin/flock", ["-o", path, "sleep", "30"], newProcessGroup: true))
        var killed = false
        defer {
            kill(-child, SIGKILL)  // the orphaned `sleep` too
            if !killed {
                var status: Int32 = 0
                waitpid(child, &status, 0)
            }
        }
        // Wait until the child holds it; if we win the race we let go at once (deinit).
        var refused = false
        let deadline = MonotonicClock.now() + 5_000_000_000
        while MonotonicClock.now() < deadline {
            if try FileLock.tryLock(path: path) == nil {
                refused = true
                break
            }
            usleep(10_000)
        }
        #expect(refused, "another process's flock makes tryLock return nil")
        // kill -9: the kernel drops the lock with the process, no cleanup needed.
        kill(child, SIGKILL)
        var status: Int32 = 0
        waitpid(child, &status, 0)
        killed = true
        // Tests run in parallel and some fork: a forked child holds a copy of the lock's fd
        // until its exec closes it (O_CLOEXEC), so the release may lag the kill a little.
        var lock: FileLock?
        let released = MonotonicClock.now() + 2_000_000_000
        while lock == nil && MonotonicClock.now() < released {
            lock = try FileLock.tryLock(path: path)
            if lock == nil { usleep(10_000) }
        }
        #expect(lock != nil)
        #expect(FileLock.holderPID(path: path) == getpid())
    }

    @Test func symlinkedLockFileIsRefused() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let target = dir.file("target")
        let link = dir.file("broker.lock")
        #expect(symlink(target, link) == 0)
        #expect(throws: SystemError.self) { _ = try FileLock.tryLock(path: link) }
        #expect(access(target, F_OK) != 0, "nothing was created through the link")
    }
}
