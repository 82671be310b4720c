import HeraldLoop
import HeraldRedis
import HeraldTasks

/// The store as the mirror loads it: every task, the owners' versions, at one seq of one epoch.
struct RedisSnapshot: Sendable {
    var epoch: String
    var seq: UInt64
    /// The nonce of entry `seq` (for the next `hello`); "" when the stream no longer has it.
    var nonce: String
    var tasks: [[UInt8]]
    var owners: [String: UInt64]
    /// The stream's last entries up to `seq` (for the mirror's history), newest first.
    var history: [CommittedEntry] = []
}

/// What the tail tells the mirror, in order.
enum TailEvent: Sendable {
    /// Load the mirror anew (first start, another epoch, a gap, detected loss).
    case loaded(RedisSnapshot, why: String)
    /// Entries after the mirror's seq, consecutive, each with its commit id.
    case entries([(entry: CommittedEntry, commit: String)])
}

/// Reads the event stream on its own connection (`XREAD BLOCK`), on the loop's thread, and
/// hands what it reads to the mirror in seq order. After every (re)connect it runs `hello`,
/// which tells whether it may go on from where it was or must load everything again.
final class RedisTail: @unchecked Sendable {
    // @unchecked: used on its client's loop thread only.
    static let readBlockMilliseconds = 1_000
    static let readCount = 512

    let client: RedisClient
    let keys: RedisTaskKeys
    private let onEvent: (TailEvent) -> Void
    private let log: (String) -> Void
    /// The last seq handed on, its nonce and epoch ("" until the first load).
    private(set) var position: UInt64 = 0
    private var nonce = ""
    private var epoch = ""
    /// Bumped at each (re)start, so replies to an older read are ignored.
    private var generation = 0
    private(set) var resyncs = 0

    /// The snapshot script: read-only, so it also runs on a replica and when Redis is out of memory.
    static let snapshotScript = RedisScript(#"""
    #!lua flags=no-writes
    local seq = redis.call('HGET', KEYS[1], 'seq') or '0'
    local nonce = ''
    local entry = redis.call('XRANGE', KEYS[4], seq .. '-0', seq .. '-0')
    if #entry == 1 then
      local fields = entry[1][2]
      for k = 1, #fields, 2 do if fields[k] == 'n' then nonce = fields[k + 1] end end
    end
    return {redis.call('HGET', KEYS[1], 'epoch') or '', seq, nonce, redis.call('HVALS', KEYS[2]), redis.call('HGETALL', KEYS[3]),
            redis.call('XREVRANGE', KEYS[4], seq .. '-0', '-', 'COUNT', ARGV[1])}
    """#)

    /// How many of the stream's last events a load puts in the mirror's history (`--history`).
    let history: Int

    init(client: RedisClient, keys: RedisTaskKeys, history: Int, onEvent: @escaping (TailEvent) -> Void, log: @escaping (String) -> Void) {
        self.client = client
        self.keys = keys
        self.history = history
        self.onEvent = onEvent
        self.log = log
        client.onReady = { [weak self] in self?.hello() }
    }

    /// The mirror could not apply what was read: load everything again.
    func resync(_ why: String) {
        load(why)
    }

    private func hello() {
        generation += 1
        let gen = generation
        let command = RedisHello.command(keys: keys, epoch: epoch, lastSeq: position, nonce: nonce, freshEpoch: RedisCommit.newNonce())
        client.send(command) { [weak self] result in
            guard let self, gen == self.generation else { return }
            guard case .success(let value) = result, let hello = RedisHello(value) else {
                self.log("hello to Redis failed: \(result); trying again")
                self.retry(gen) { self.hello() }
                return
            }
            switch hello.status {
            case .ok where !self.epoch.isEmpty: self.read(gen)
            case .ok, .new: self.load(self.epoch.isEmpty ? "first start" : "a new store")
            case .reset: self.load("Redis has another epoch or no longer the events after \(self.position)")
            case .rotated: self.load("acknowledged events were lost in Redis (a restart or failover); new epoch \(hello.epoch)")
            }
        }
    }

    private func load(_ why: String) {
        generation += 1
        let gen = generation
        let command = Self.snapshotScript.command(keys: [keys.meta, keys.tasks, keys.owners, keys.events],
                                                  arguments: [Array(String(history).utf8)])
        client.send(command) { [weak self] result in
            guard let self, gen == self.generation else { return }
            guard case .success(let value) = result, let snapshot = Self.snapshot(value) else {
                self.log("loading the tasks from Redis failed: \(result); trying again")
                self.retry(gen) { self.load(why) }
                return
            }
            if !self.epoch.isEmpty { self.resyncs += 1 }
            self.epoch = snapshot.epoch
            self.position = snapshot.seq
            self.nonce = snapshot.nonce
            self.onEvent(.loaded(snapshot, why: why))
            self.read(gen)
        }
    }

    private func read(_ gen: Int) {
        let command = RedisCommand(strings: ["XREAD", "COUNT", String(Self.readCount), "BLOCK", String(Self.readBlockMilliseconds),
                                             "STREAMS", String(decoding: keys.events, as: UTF8.self), "\(position)-0"])
        client.send(command) { [weak self] result in
            guard let self, gen == self.generation else { return }
            switch result {
            case .success(.null):
                self.read(gen)
            case .success(let value):
                guard let read = Self.entries(value) else {
                    self.log("Redis answered XREAD with something unexpected; loading again")
                    self.load("an unreadable stream entry")
                    return
                }
                guard let first = read.first else { return self.read(gen) }
                guard first.entry.seq == self.position + 1 else {
                    self.load("the stream no longer has the events after \(self.position) (next is \(first.entry.seq))")
                    return
                }
                self.position = read.last!.entry.seq
                self.nonce = read.last!.nonce
                self.onEvent(.entries(read.map { ($0.entry, $0.commit) }))
                self.read(gen)
            case .failure(.server(let message)):
                self.log("Redis refused XREAD: \(message); trying again")
                self.retry(gen) { self.read(gen) }
            case .failure:
                break  // the connection is being made again; `hello` follows
            }
        }
    }

    private func retry(_ gen: Int, _ body: @escaping () -> Void) {
        client.loop.scheduleTimer(afterSeconds: 0.5) { [weak self] in
            guard let self, gen == self.generation, self.client.isReady else { return }
            body()
        }
    }

    static func snapshot(_ value: RedisValue) -> RedisSnapshot? {
        guard let parts = value.array, parts.count == 6, let epoch = parts[0].string, let seq = parts[1].int, seq >= 0,
              let nonce = parts[2].string, let tasks = parts[3].array, let owners = parts[4].array, owners.count % 2 == 0 else { return nil }
        var versions: [String: UInt64] = [:]
        for k in stride(from: 0, to: owners.count, by: 2) {
            guard let owner = owners[k].string, let v = owners[k + 1].int, v >= 0 else { return nil }
            versions[owner] = UInt64(v)
        }
        let history = entries(.array([.array([.bulk([]), parts[5]])]))?.map(\.entry) ?? []
        return RedisSnapshot(epoch: epoch, seq: UInt64(seq), nonce: nonce, tasks: tasks.compactMap(\.bytes), owners: versions,
                             history: history)
    }

    /// `XREAD`'s reply: [[stream, [[id, [field, value, …]], …]]].
    static func entries(_ value: RedisValue) -> [(entry: CommittedEntry, commit: String, nonce: String)]? {
        guard let streams = value.array, let stream = streams.first?.array, stream.count == 2, let items = stream[1].array else { return nil }
        var out: [(CommittedEntry, String, String)] = []
        for item in items {
            guard let pair = item.array, pair.count == 2, let id = pair[0].string, let fields = pair[1].array, fields.count % 2 == 0,
                  let dash = id.firstIndex(of: "-"), let seq = UInt64(id[..<dash]) else { return nil }
            var f: [String: [UInt8]] = [:]
            for k in stride(from: 0, to: fields.count, by: 2) {
                guard let name = fields[k].string, let bytes = fields[k + 1].bytes else { return nil }
                f[name] = bytes
            }
            guard let event = f["e"].map({ String(decoding: $0, as: UTF8.self) }), let taskID = f["i"].map({ String(decoding: $0, as: UTF8.self) })
            else { return nil }
            let owner = f["o"].map { String(decoding: $0, as: UTF8.self) }
            out.append((CommittedEntry(seq: seq, event: event, id: taskID, owner: owner?.isEmpty == false ? owner : nil, json: f["j"]),
                        f["c"].map { String(decoding: $0, as: UTF8.self) } ?? "", f["n"].map { String(decoding: $0, as: UTF8.self) } ?? ""))
        }
        return out
    }
}
