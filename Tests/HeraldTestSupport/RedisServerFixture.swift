import Foundation
import Glibc

/// A real `redis-server` (the Debian package) on a free loopback port, with no persistence,
/// in its own temporary directory; killed with the test process (DieWithTestProcess).
public final class RedisServerFixture: @unchecked Sendable {
    public let port: Int
    public let directory: URL
    public private(set) var process: Process

    public static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server") }

    public init(extraArguments: [String] = []) throws {
        port = try Self.freePort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("herald-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        process = Process()
        self.extraArguments = extraArguments
        try start()
    }

    private let extraArguments: [String]

    /// Starts (or starts again, on the same port) and waits until it answers PING.
    public func start() throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", directory.path, "--logfile", directory.appendingPathComponent("redis.log").path] + extraArguments
        try DieWithTestProcess.run(process)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if Self.ping(port: port) { return }
            usleep(20_000)
        }
        throw FixtureError("redis-server did not answer PING on port \(port) within 10 s")
    }

    public func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// `kill`, then `start` on the same port, on a thread of their own: their blocking waits
    /// (the exit, then PING for up to 10 s) must not hold a thread of Swift's cooperative pool
    /// (two on a 2-core machine), which the client under test needs to notice the restart. A
    /// full parallel `swift test` once starved it past a test's 8 s wait that way.
    public func restart() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            Thread {
                self.kill()
                do {
                    try self.start()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
    }

    public func pause() { Glibc.kill(process.processIdentifier, SIGSTOP) }
    public func resume() { Glibc.kill(process.processIdentifier, SIGCONT) }

    deinit {
        Glibc.kill(process.processIdentifier, SIGCONT)
        Glibc.kill(process.processIdentifier, SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }

    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw FixtureError("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A blocking PING over a plain socket (the fixture must not depend on the client under test).
    public static func ping(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected, write(fd, "PING\r\n", 6) == 6 else { return false }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &buffer, 64)
        return n > 0 && String(decoding: buffer[0..<n], as: UTF8.self).hasPrefix("+PONG")
    }
}

public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
