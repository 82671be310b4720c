import HeraldRedis

/// The two scripts through which every Herald host changes the tasks in Redis (docs/
/// architecture.md, "Several hosts: Redis"). They hold no lifecycle rule: the hosts compute
/// every change in Swift (`TaskHub`), and the scripts only check that what a change was
/// computed from is still true (compare-and-set), number it with the one `seq` and store it.
/// Both start with `#!lua` so Redis refuses a whole script up front when it is out of memory
/// (`maxmemory-policy noeviction`): a script never stops half-way, since Redis would keep the
/// writes made before an error. Every check comes before the first write for the same reason.
public enum RedisTaskScripts {
    /// KEYS: meta, tasks, seqs, events, deadlines, owners, req:<commit id>.
    /// ARGV: epoch, deadline (Redis ms, 0 none), stream MAXLEN, commit id, req TTL ms; then
    /// count + (task id, seq it must have, "0" absent) pairs; count + (owner, version) pairs;
    /// count + task ids whose deadline score must be due now; count + writes of 9 fields:
    /// kind (t task, r removed, h heartbeat: no seq), id, owner, event, JSON before the seq,
    /// JSON after it (a heartbeat's whole JSON in the first), deadline score ("" drop, "-"
    /// keep), "1" to set the owner's version, nonce.
    /// Returns {"ok", first seq, last seq} (first 0: nothing numbered), {"conflict", seq},
    /// {"epoch", epoch}, {"late", now}; a commit id seen before returns its first result.
    public static let commit = RedisScript(#"""
    #!lua
    local done = redis.call('GET', KEYS[7])
    if done then
      local first, last = string.match(done, '^(%d+) (%d+)$')
      return {'ok', tonumber(first), tonumber(last)}
    end
    local epoch = redis.call('HGET', KEYS[1], 'epoch')
    if epoch ~= ARGV[1] then return {'epoch', epoch or ''} end
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local deadline = tonumber(ARGV[2])
    if deadline > 0 and now > deadline then return {'late', now} end
    local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
    local i = 6
    local n = tonumber(ARGV[i]); i = i + 1
    for _ = 1, n do
      if (redis.call('HGET', KEYS[3], ARGV[i]) or '0') ~= ARGV[i + 1] then return {'conflict', seq} end
      i = i + 2
    end
    n = tonumber(ARGV[i]); i = i + 1
    for _ = 1, n do
      if (redis.call('HGET', KEYS[6], ARGV[i]) or '0') ~= ARGV[i + 1] then return {'conflict', seq} end
      i = i + 2
    end
    n = tonumber(ARGV[i]); i = i + 1
    for _ = 1, n do
      local score = redis.call('ZSCORE', KEYS[5], ARGV[i])
      if not score or tonumber(score) > now then return {'conflict', seq} end
      i = i + 1
    end
    n = tonumber(ARGV[i]); i = i + 1
    local first = 0
    for _ = 1, n do
      local kind, id, owner, event = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
      local before, after, score, bump, nonce = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8]
      i = i + 9
      if kind == 'h' then
        redis.call('HSET', KEYS[2], id, before)
      else
        seq = seq + 1
        if first == 0 then first = seq end
        local s = string.format('%d', seq)
        if kind == 't' then
          local json = before .. s .. after
          redis.call('HSET', KEYS[2], id, json)
          redis.call('HSET', KEYS[3], id, s)
          redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], s .. '-0',
                     'e', event, 'i', id, 'o', owner, 'j', json, 'n', nonce, 'c', ARGV[4])
        else
          redis.call('HDEL', KEYS[2], id)
          redis.call('HDEL', KEYS[3], id)
          redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], s .. '-0',
                     'e', 'removed', 'i', id, 'o', owner, 'n', nonce, 'c', ARGV[4])
        end
        if bump == '1' then redis.call('HSET', KEYS[6], owner, s) end
      end
      if score == '' then redis.call('ZREM', KEYS[5], id) elseif score ~= '-' then redis.call('ZADD', KEYS[5], score, id) end
    end
    if first > 0 then redis.call('HSET', KEYS[1], 'seq', string.format('%d', seq)) end
    redis.call('SET', KEYS[7], string.format('%d %d', first, seq), 'PX', ARGV[5])
    return {'ok', first, seq}
    """#)

    /// KEYS: meta, events. ARGV: the host's epoch ("" on its first connect), the last seq it
    /// applied, that entry's nonce, a fresh epoch to use if one must start.
    /// Returns {status, epoch, seq}: "new" (no epoch in Redis: a new store, or one that lost
    /// everything), "ok" (the host may go on from its last seq), "reset" (another epoch, or the
    /// stream no longer reaches back: the host reloads), "rotated" (acknowledged data was
    /// lost — the host's last entry is missing inside the stream's range or has another
    /// nonce, or the host saw a seq Redis never reached — so a new epoch starts, with `seq`
    /// kept above anything a host saw: no seq is ever given out twice within an epoch).
    public static let hello = RedisScript(#"""
    #!lua
    local epoch = redis.call('HGET', KEYS[1], 'epoch')
    local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
    local last = tonumber(ARGV[2])
    local function start(status)
      if last > seq then seq = last end
      redis.call('HSET', KEYS[1], 'epoch', ARGV[4], 'seq', string.format('%d', seq))
      return {status, ARGV[4], seq}
    end
    if not epoch then return start('new') end
    if ARGV[1] == '' then return {'ok', epoch, seq} end
    if ARGV[1] ~= epoch then return {'reset', epoch, seq} end
    if last > seq then return start('rotated') end
    if last == 0 then return {'ok', epoch, seq} end
    local id = ARGV[2] .. '-0'
    local entry = redis.call('XRANGE', KEYS[2], id, id)
    if #entry == 1 then
      local fields = entry[1][2]
      for k = 1, #fields, 2 do
        if fields[k] == 'n' then
          if fields[k + 1] == ARGV[3] then return {'ok', epoch, seq} end
          return start('rotated')
        end
      end
      return start('rotated')
    end
    local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
    if #oldest == 1 and last >= tonumber(string.match(oldest[1][1], '^(%d+)')) then return start('rotated') end
    return {'reset', epoch, seq}
    """#)
}

/// The keys of one Herald store in Redis. All share the hash tag `{prefix}`, so on a Redis
/// Cluster they sit in one slot (one `seq` needs one primary anyway).
public struct RedisTaskKeys: Sendable, Equatable {
    public let prefix: String

    public init(prefix: String = "herald") {
        self.prefix = prefix
    }

    private func key(_ name: String) -> [UInt8] { Array("{\(prefix)}:\(name)".utf8) }

    public var meta: [UInt8] { key("meta") }
    public var tasks: [UInt8] { key("tasks") }
    public var seqs: [UInt8] { key("seqs") }
    public var events: [UInt8] { key("events") }
    public var deadlines: [UInt8] { key("deadlines") }
    public var owners: [UInt8] { key("owners") }
    public func request(_ commitID: String) -> [UInt8] { key("req:\(commitID)") }
}
