import Foundation
import HeraldBroker
import HeraldLoop
import HeraldRedis
import HeraldTasks
import HeraldTestSupport

/// RedisBrokers against one real redis-server for the whole test process, each store under a
/// prefix of its own (so tests do not see each other's tasks); several brokers made with the
/// same prefix are several hosts of one store.
enum RedisBrokerFixture {
    static let server: RedisServerFixture = {
        do { return try RedisServerFixture() } catch { fatalError("redis-server did not start: \(error)") }
    }()

    static func newPrefix() -> String { "t-\(UUID().uuidString.prefix(8))" }

    static func make(prefix: String = newPrefix(), tasks: TaskHubConfiguration = TaskHubConfiguration(), timeout: Double = 3,
                     port: Int? = nil) throws -> RedisBroker {
        let loop = try EventLoop()
        EventLoopThread.start(loop, name: "redis-broker-test")
        let endpoint = RedisEndpoint(host: "127.0.0.1", port: port ?? server.port)
        return RedisBroker(configuration: .init(endpoint: endpoint, prefix: prefix, timeout: timeout, tasks: tasks), loop: loop)
    }
}
