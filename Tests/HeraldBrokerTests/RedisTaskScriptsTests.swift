import HeraldBroker
import HeraldRedis
import HeraldTestSupport
import Testing

/// The two Lua scripts against a real redis-server: compare-and-set, numbering, the stream,
/// idempotent retries, deadlines, and loss detection in `hello`.
@Suite(.serialized) struct RedisTaskScriptsTests {
    let keys = RedisTaskKeys(prefix: "t")

    func connect(_ redis: RedisServerFixture) throws -> RedisTestClient {
        try RedisTestClient(port: redis.port, scripts: [RedisTaskScripts.commit, RedisTaskScripts.hello])
    }

    func hello(_ c: RedisTestClient, epoch: String = "", last: UInt64 = 0, nonce: String = "", fresh: String) async throws -> RedisHello {
        let reply = try await c.send(RedisHello.command(keys: keys, epoch: epoch, lastSeq: last, nonce: nonce, freshEpoch: fresh)).get()
        return try #require(RedisHello(reply))
    }

    func commit(_ c: RedisTestClient, _ commit: RedisCommit) async throws -> RedisCommit.Outcome {
        try #require(RedisCommit.outcome(try await c.send(commit.command(keys: keys)).get()))
    }

    /// A task write whose JSON is `{"id":…,"seq":<seq>,"done":…}`.
    func taskWrite(_ id: String, event: String, done: Int, owner: String? = nil, nonce: String = RedisCommit.newNonce(),
                   deadline: RedisCommit.DeadlineChange = .keep, bumps: Bool = false) -> RedisCommit.Write {
        .init(kind: .task, id: id, owner: owner, event: event, before: Array("{\"id\":\"\(id)\",\"seq\":".utf8),
              after: Array(",\"done\":\(done)}".utf8), deadline: deadline, bumpsOwner: bumps, nonce: nonce)
    }

    func string(_ c: RedisTestClient, _ args: String...) async throws -> String? {
        try await c.send(RedisCommand(strings: args)).get().string
    }

    @Test func helloStartsAnEpochOnceAndCommitsNumberSpliceAndStream() async throws {
        let redis = try RedisServerFixture()
        let c = try connect(redis)
        #expect(try await hello(c, fresh: "E1") == RedisHello(status: .new, epoch: "E1", seq: 0))
        #expect(try await hello(c, fresh: "E2") == RedisHello(status: .ok, epoch: "E1", seq: 0))

        var create = RedisCommit(epoch: "E1")
        create.taskSeqs = [("a", 0)]
        create.writes = [taskWrite("a", event: "created", done: 0, nonce: "n1", deadline: .set(5000)),
                         taskWrite("a", event: "started", done: 0, nonce: "n2")]
        #expect(try await commit(c, create) == .committed(first: 1, last: 2))
        #expect(try await string(c, "HGET", "{t}:tasks", "a") == #"{"id":"a","seq":2,"done":0}"#)
        #expect(try await string(c, "HGET", "{t}:seqs", "a") == "2")
        #expect(try await string(c, "HGET", "{t}:meta", "seq") == "2")
        #expect(try await string(c, "ZSCORE", "{t}:deadlines", "a") == "5000")
        let entries = try await c.send(RedisCommand("XRANGE", "{t}:events", "-", "+")).get().array ?? []
        #expect(entries.count == 2)
        #expect(entries.first?.array?.first?.string == "1-0")
        let fields = entries.first?.array?.last?.array?.compactMap(\.string) ?? []
        #expect(fields == ["e", "created", "i", "a", "o", "", "j", #"{"id":"a","seq":1,"done":0}"#, "n", "n1", "c", create.commitID])
    }

    @Test func aConflictOrAnotherEpochOrALateCommitWritesNothing() async throws {
        let redis = try RedisServerFixture()
        let c = try connect(redis)
        _ = try await hello(c, fresh: "E")
        var first = RedisCommit(epoch: "E")
        first.taskSeqs = [("a", 0)]
        first.writes = [taskWrite("a", event: "created", done: 0)]
        #expect(try await commit(c, first) == .committed(first: 1, last: 1))

        var stale = RedisCommit(epoch: "E")           // computed from before the create
        stale.taskSeqs = [("a", 0)]
        stale.writes = [taskWrite("a", event: "created", done: 9)]
        #expect(try await commit(c, stale) == .conflict(seq: 1))

        var otherEpoch = RedisCommit(epoch: "OLD")
        otherEpoch.taskSeqs = [("a", 1)]
        otherEpoch.writes = [taskWrite("a", event: "progress", done: 5)]
        #expect(try await commit(c, otherEpoch) == .otherEpoch("E"))

        var late = RedisCommit(epoch: "E")
        late.deadlineMilliseconds = 1_000                 // 1970: long past
        late.taskSeqs = [("a", 1)]
        late.writes = [taskWrite("a", event: "progress", done: 5)]
        #expect(try await commit(c, late) == .late)

        var owner = RedisCommit(epoch: "E")               // an owner's version moved on
        owner.ownerVersions = [("alice", 3)]
        owner.writes = [taskWrite("b", event: "created", done: 0, owner: "alice")]
        #expect(try await commit(c, owner) == .conflict(seq: 1))

        #expect(try await string(c, "HGET", "{t}:tasks", "a") == #"{"id":"a","seq":1,"done":0}"#)
        #expect(try await c.send(RedisCommand("XLEN", "{t}:events")).get() == .integer(1))
        #expect(try await string(c, "HGET", "{t}:meta", "seq") == "1")
    }

    @Test func aRetriedCommitIsAppliedOnceAndAnswersTheSame() async throws {
        let redis = try RedisServerFixture()
        let c = try connect(redis)
        _ = try await hello(c, fresh: "E")
        var create = RedisCommit(epoch: "E", commitID: "retry-me")
        create.taskSeqs = [("a", 0)]
        create.writes = [taskWrite("a", event: "created", done: 0)]
        #expect(try await commit(c, create) == .committed(first: 1, last: 1))
        // The answer was lost; the host sends the same commit again.
        #expect(try await commit(c, create) == .committed(first: 1, last: 1))
        #expect(try await c.send(RedisCommand("XLEN", "{t}:events")).get() == .integer(1))
    }

    @Test func ownersVersionsDueChecksHeartbeatsAndRemovals() async throws {
        let redis = try RedisServerFixture()
        let c = try connect(redis)
        _ = try await hello(c, fresh: "E")
        var create = RedisCommit(epoch: "E")
        create.taskSeqs = [("a", 0)]
        create.ownerVersions = [("alice", 0)]
        create.writes = [taskWrite("a", event: "created", done: 0, owner: "alice", deadline: .set(99_999_999_999_999), bumps: true)]
        #expect(try await commit(c, create) == .committed(first: 1, last: 1))
        #expect(try await string(c, "HGET", "{t}:owners", "alice") == "1")

        // A sweep that thinks the lease is due loses to the renewed (future) deadline.
        var sweep = RedisCommit(epoch: "E")
        sweep.taskSeqs = [("a", 1)]
        sweep.due = ["a"]
        sweep.writes = [taskWrite("a", event: "stale", done: 0)]
        #expect(try await commit(c, sweep) == .conflict(seq: 1))

        // A heartbeat: new JSON and deadline, no seq, no event.
        var beat = RedisCommit(epoch: "E")
        beat.taskSeqs = [("a", 1)]
        beat.writes = [.init(kind: .heartbeat, id: "a", owner: "alice", before: Array(#"{"id":"a","seq":1,"hb":1}"#.utf8), deadline: .set(1))]
        #expect(try await commit(c, beat) == .committed(first: 0, last: 1))
        #expect(try await string(c, "HGET", "{t}:tasks", "a") == #"{"id":"a","seq":1,"hb":1}"#)
        #expect(try await c.send(RedisCommand("XLEN", "{t}:events")).get() == .integer(1))

        // Now it is due (score 1): the sweep goes through.
        #expect(try await commit(c, sweep) == .committed(first: 2, last: 2))

        var remove = RedisCommit(epoch: "E")
        remove.taskSeqs = [("a", 2)]
        remove.writes = [.init(kind: .removed, id: "a", owner: "alice", deadline: .drop, bumpsOwner: true)]
        #expect(try await commit(c, remove) == .committed(first: 3, last: 3))
        #expect(try await c.send(RedisCommand("HEXISTS", "{t}:tasks", "a")).get() == .integer(0))
        #expect(try await c.send(RedisCommand("ZSCORE", "{t}:deadlines", "a")).get() == .null)
        #expect(try await string(c, "HGET", "{t}:owners", "alice") == "3")
    }

    @Test func helloDetectsLostDataAndNeverGivesASeqTwice() async throws {
        let redis = try RedisServerFixture()
        let c = try connect(redis)
        _ = try await hello(c, fresh: "E")
        for n in 1...3 {
            var w = RedisCommit(epoch: "E")
            w.writes = [taskWrite("t\(n)", event: "created", done: 0, nonce: "nonce\(n)")]
            _ = try await commit(c, w)
        }
        #expect(try await hello(c, epoch: "E", last: 3, nonce: "nonce3", fresh: "X") == RedisHello(status: .ok, epoch: "E", seq: 3))
        #expect(try await hello(c, epoch: "OTHER", last: 3, nonce: "nonce3", fresh: "X") == RedisHello(status: .reset, epoch: "E", seq: 3))
        // A promoted replica that lacks the host's last entry: same seq, another entry — rotate.
        #expect(try await hello(c, epoch: "E", last: 2, nonce: "not-nonce2", fresh: "F") == RedisHello(status: .rotated, epoch: "F", seq: 3))
        // A host saw seq 7; Redis is at 3 (acknowledged entries gone): rotate, seq kept at 7.
        #expect(try await hello(c, epoch: "F", last: 7, nonce: "n7", fresh: "G") == RedisHello(status: .rotated, epoch: "G", seq: 7))
        var next = RedisCommit(epoch: "G")
        next.writes = [taskWrite("t8", event: "created", done: 0)]
        #expect(try await commit(c, next) == .committed(first: 8, last: 8))
        // Everything gone (a restart without persistence): a new epoch, above what the host saw.
        _ = try await c.send(RedisCommand("FLUSHALL"))
        #expect(try await hello(c, epoch: "G", last: 8, nonce: "x", fresh: "H") == RedisHello(status: .new, epoch: "H", seq: 8))
    }

    @Test func outOfMemoryRefusesTheWholeCommit() async throws {
        let redis = try RedisServerFixture(extraArguments: ["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"])
        let c = try connect(redis)
        _ = try await hello(c, fresh: "E")
        let big = String(repeating: "x", count: 100_000)
        var refused: RedisError?
        var committed = 0
        for n in 0..<100 {
            var w = RedisCommit(epoch: "E")
            w.writes = [.init(kind: .task, id: "t\(n)", owner: nil, event: "created", before: Array("{\"m\":\"\(big)\",\"seq\":".utf8),
                              after: Array("}".utf8))]
            let result = await c.send(w.command(keys: keys))
            if case .failure(let error) = result {
                refused = error
                break
            }
            committed += 1
        }
        guard case .server(let message) = refused else {
            Issue.record("no refusal after \(committed) commits of 100 KB")
            return
        }
        #expect(message.hasPrefix("OOM"))
        // Nothing half-written: the stream, the tasks and seq agree.
        #expect(try await c.send(RedisCommand("XLEN", "{t}:events")).get() == .integer(Int64(committed)))
        #expect(try await c.send(RedisCommand("HLEN", "{t}:tasks")).get() == .integer(Int64(committed)))
        #expect(try await string(c, "HGET", "{t}:meta", "seq") == String(committed))
    }
}
