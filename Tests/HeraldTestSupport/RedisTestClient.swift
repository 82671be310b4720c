import Foundation
import HeraldLoop
import HeraldRedis

/// A `RedisClient` on its own event loop thread, driven from async tests.
public final class RedisTestClient: @unchecked Sendable {
    public let loop: EventLoop
    public let client: RedisClient
    private let lock = NSLock()
    private var _log: [String] = []
    public var log: [String] { lock.withLock { _log } }

    public init(port: Int, timeout: Double = 3, start: Bool = true, scripts: [RedisScript] = []) throws {
        loop = try EventLoop()
        client = RedisClient(configuration: .init(endpoint: RedisEndpoint(host: "127.0.0.1", port: port), timeout: timeout,
                                                  name: "herald-test"), loop: loop)
        client.scripts = scripts
        client.onLog = { [weak self] line in self?.lock.withLock { self?._log.append(line) } }
        EventLoopThread.start(loop, name: "redis-test")
        if start { loop.execute { [self] in self.client.start() } }
    }

    public func startClient() { loop.execute { [self] in self.client.start() } }

    public func send(_ command: RedisCommand) async -> Result<RedisValue, RedisError> {
        await withCheckedContinuation { continuation in
            loop.execute { [self] in self.client.send(command) { continuation.resume(returning: $0) } }
        }
    }

    /// Many commands in one loop turn (one write), replies in order.
    public func sendAll(_ commands: [RedisCommand]) async -> [Result<RedisValue, RedisError>] {
        await withCheckedContinuation { continuation in
            loop.execute { [self] in
                var results: [Result<RedisValue, RedisError>] = []
                for command in commands {
                    client.send(command) { result in
                        results.append(result)
                        if results.count == commands.count { continuation.resume(returning: results) }
                    }
                }
            }
        }
    }

    deinit {
        loop.execute { [client] in client.stop() }
        loop.stop()
    }
}
