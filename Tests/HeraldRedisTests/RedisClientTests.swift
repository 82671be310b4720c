import Foundation
import HeraldLoop
import HeraldRedis
import HeraldTestSupport
import Testing

/// The client on a real event loop thread: against a real `redis-server` (pipelining, a paused
/// and a restarted Redis, nobody listening) and a scripted fake (LOADING, replies nobody asked for).
@Suite(.serialized) struct RedisClientTests {
    @Test func pipelinedCommandsAnswerInOrder() async throws {
        let redis = try RedisServerFixture()
        let h = try RedisTestClient(port: redis.port)
        let results = await h.sendAll((0..<2000).map { _ in RedisCommand("INCR", "n") })
        #expect(results.map { try? $0.get() } == (1...2000).map { RedisValue.integer(Int64($0)) })
        #expect(try await h.send(RedisCommand("SET", "k", "v\r\n\0")).get() == .status("OK"))
        #expect(try await h.send(RedisCommand("GET", "k")).get() == .bulk(Array("v\r\n\0".utf8)))
        #expect(try await h.send(RedisCommand("GET", "missing")).get() == .null)
        #expect(await h.send(RedisCommand("NOSUCHCOMMAND")) == .failure(.server("ERR unknown command 'NOSUCHCOMMAND', with args beginning with: ")))
        // The client named itself.
        let clients = try await h.send(RedisCommand("CLIENT", "LIST")).get().string ?? ""
        #expect(clients.contains("name=herald-test"))
    }

    @Test func commandsMadeBeforeTheConnectionWaitForIt() async throws {
        let redis = try RedisServerFixture()
        let h = try RedisTestClient(port: redis.port, start: false)
        async let first = h.send(RedisCommand("SET", "a", "1"))
        try await Task.sleep(for: .milliseconds(50))
        h.startClient()
        #expect(try await first.get() == .status("OK"))
    }

    @Test func nobodyListeningFailsWithinTheTimeoutAsUnavailable() async throws {
        let port = try RedisServerFixture.freePort()
        let h = try RedisTestClient(port: port, timeout: 0.5)
        let started = Date()
        let result = await h.send(RedisCommand("PING"))
        let waited = Date().timeIntervalSince(started)
        guard case .failure(let error) = result, case .unavailable = error else {
            Issue.record("expected unavailable, got \(result)")
            return
        }
        #expect(error.certainlyNotApplied)
        // Not before the deadline, and not the reconnect loop going on past it. The upper bound
        // leaves room for the awaiting task's resumption on a loaded machine: under
        // AddressSanitizer with every suite in parallel it came back after 2.7 s in a CI run.
        #expect(waited >= 0.4 && waited < 5, "waited \(waited) s")
    }

    @Test func aPausedRedisTimesOutThenTheClientRecovers() async throws {
        let redis = try RedisServerFixture()
        let h = try RedisTestClient(port: redis.port, timeout: 0.5)
        #expect(try await h.send(RedisCommand("SET", "x", "1")).get() == .status("OK"))
        redis.pause()
        let started = Date()
        let result = await h.send(RedisCommand("INCR", "x"))
        #expect(result == .failure(.timeout("no reply within 0.5 s")))
        #expect(Date().timeIntervalSince(started) < 2)
        redis.resume()
        // Reconnected by itself; the timed-out INCR may have run (Redis got it before the pause).
        var answer: Result<RedisValue, RedisError> = .failure(.unavailable("not tried"))
        for _ in 0..<20 {
            answer = await h.send(RedisCommand("GET", "x"))
            if case .success = answer { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(["1", "2"].contains(try answer.get().string ?? ""))
        #expect(h.log.contains { $0.contains("did not answer within 0.5 s") })
    }

    @Test func aRestartedRedisIsReconnected() async throws {
        let redis = try RedisServerFixture()
        let h = try RedisTestClient(port: redis.port, timeout: 2)
        #expect(try await h.send(RedisCommand("PING")).get() == .status("PONG"))
        redis.kill()
        let lost = await h.send(RedisCommand("PING"))
        guard case .failure(let error) = lost else {
            Issue.record("a PING to a killed Redis answered \(lost)")
            return
        }
        #expect(error.certainlyNotApplied || error == .connectionLost("Redis closed the connection"))
        try redis.start()
        #expect(try await h.send(RedisCommand("PING")).get() == .status("PONG"))
        #expect(h.client.connects >= 2)
    }

    @Test func loadingIsWaitedOutNotReported() async throws {
        let pings = Counter()
        let fake = try FakeRedisServer { _, arguments in
            switch arguments.first?.uppercased() {
            case "PING": return pings.next() <= 3 ? "-LOADING Redis is loading the dataset in memory\r\n" : "+PONG\r\n"
            case "CLIENT": return "+OK\r\n"
            default: return "+DONE\r\n"
            }
        }
        defer { fake.stop() }
        let h = try RedisTestClient(port: fake.port, timeout: 3)
        #expect(try await h.send(RedisCommand("SET", "a", "b")).get() == .status("DONE"))
        #expect(pings.value == 4)
        #expect(fake.connections == 1)
    }

    @Test func aReplyNobodyAskedForDropsTheConnectionAndTheClientGoesOn() async throws {
        let fake = try FakeRedisServer { connection, arguments in
            switch arguments.first?.uppercased() {
            case "PING": return "+PONG\r\n"
            case "CLIENT": return "+OK\r\n"
            case "GET": return connection == 1 ? "$1\r\na\r\n+EXTRA\r\n" : "$1\r\nb\r\n"
            case "BAD": return "?garbage\r\n"
            default: return "+OK\r\n"
            }
        }
        defer { fake.stop() }
        let h = try RedisTestClient(port: fake.port, timeout: 2)
        #expect(try await h.send(RedisCommand("GET", "k")).get() == .bulk([UInt8(ascii: "a")]))
        try await Task.sleep(for: .milliseconds(200))
        #expect(try await h.send(RedisCommand("GET", "k")).get() == .bulk([UInt8(ascii: "b")]))
        #expect(fake.connections == 2)
        #expect(h.log.contains { $0.contains("a reply nobody asked for") })
        // Bytes that are not RESP: the command fails (it may have run), the client reconnects.
        let bad = await h.send(RedisCommand("BAD"))
        guard case .failure(.connectionLost(let why)) = bad else {
            Issue.record("expected connectionLost, got \(bad)")
            return
        }
        #expect(why.contains("bad reply from Redis"))
        #expect(try await h.send(RedisCommand("GET", "k")).get() == .bulk([UInt8(ascii: "b")]))
        #expect(fake.connections == 3)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func next() -> Int { lock.withLock { n += 1; return n } }
    var value: Int { lock.withLock { n } }
}
