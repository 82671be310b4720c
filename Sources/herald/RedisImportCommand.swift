import ArgumentParser
import Foundation
import HeraldBroker
import HeraldLoop
import HeraldRedis
import HeraldStore

/// `herald redis-import --data DIR --redis URL`: moves a SQLite store into Redis once, keeping
/// seq and epoch, so clients resume across the move. The store must not be in use (its lock).
struct RedisImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis-import",
        abstract: "Copy a --data store into Redis for `herald serve --redis` (once, before the hosts start).",
        discussion: """
            Keeps every task, the history, seq and epoch: clients resume across the move. A store \
            that was not stopped cleanly gets a new epoch (as a restart would: its last progress \
            may not be on disk). Refuses a prefix that already holds a store. Stop the server \
            using --data first (its lock is checked).
            """
    )

    @Option(name: .customLong("data"), help: ArgumentHelp("The SQLite store's directory.", valueName: "dir"))
    var dataDirectory: String

    @Option(help: ArgumentHelp("redis://[[user]:password@]host[:port][/db]", valueName: "url"))
    var redis: String

    @Option(help: ArgumentHelp("Key prefix in Redis (as --redis-prefix of serve).", valueName: "prefix"))
    var redisPrefix = "herald"

    @Option(help: ArgumentHelp("Seconds Redis has to answer each command.", valueName: "seconds"))
    var redisTimeout = 10.0

    func run() throws {
        let endpoint: RedisEndpoint
        do { endpoint = try RedisEndpoint(url: redis) } catch { throw ValidationError(error.description) }
        let state: StoredState
        do {
            let store = try SQLiteTaskStore(directory: dataDirectory)
            state = try store.load()
            store.close()
        } catch {
            fail("cannot read --data \(dataDirectory): \(error)")
        }
        let keys = RedisTaskKeys(prefix: redisPrefix)
        let plan = RedisImport.plan(state, keys: keys)
        let loop = try EventLoop()
        EventLoopThread.start(loop, name: "redis-import")
        let client = RedisClient(configuration: .init(endpoint: endpoint, timeout: redisTimeout, name: "herald-import"), loop: loop)
        loop.execute { client.start() }
        func call(_ command: RedisCommand) -> Result<RedisValue, RedisError> {
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var result: Result<RedisValue, RedisError> = .failure(.unavailable("not sent"))
            loop.execute { client.send(command) { result = $0; done.signal() } }
            done.wait()
            return result
        }
        switch call(RedisCommand(strings: ["EXISTS", String(decoding: keys.meta, as: UTF8.self)])) {
        case .success(.integer(0)): break
        case .success: fail("\(endpoint) already holds a Herald store under prefix \(redisPrefix); choose another --redis-prefix")
        case .failure(let error): fail("\(error)")
        }
        // A half-done import (no meta yet) is cleared first.
        _ = call(RedisCommand([Array("DEL".utf8)] + RedisImport.allKeys(keys)))
        var sent = 0
        for chunk in stride(from: 0, to: plan.commands.count, by: 1_000) {
            let commands = Array(plan.commands[chunk..<min(chunk + 1_000, plan.commands.count)])
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var failure: RedisError?
            nonisolated(unsafe) var left = commands.count
            loop.execute {
                for command in commands {
                    client.send(command) { result in
                        if case .failure(let error) = result, failure == nil { failure = error }
                        left -= 1
                        if left == 0 { done.signal() }
                    }
                }
            }
            done.wait()
            if let failure { fail("import stopped after \(sent) commands: \(failure) (run it again: an import without meta is cleared)") }
            sent += commands.count
        }
        if case .failure(let error) = call(plan.metaCommand) { fail("\(error)") }
        let epochNote = plan.epochKept ? "epoch \(plan.epoch) kept" : "new epoch \(plan.epoch) (the store was not stopped cleanly)"
        print("imported \(plan.tasks) tasks and \(plan.events) history events into \(endpoint) prefix \(redisPrefix): seq \(plan.seq), \(epochNote)"
              + (plan.skipped > 0 ? "; \(plan.skipped) unreadable rows skipped" : ""))
        loop.execute { client.stop() }
    }

    private func fail(_ message: String) -> Never {
        FileDescriptorOutput.standardError("herald: redis-import: \(message)\n")
        Foundation.exit(1)
    }
}
