import HeraldRedis
import HeraldStore
import HeraldTasks
import HeraldWire

/// `herald redis-import`: a SQLite store's tasks, history, seq and epoch as the commands that
/// put them under a Redis prefix, in the layout `RedisTaskScripts` keeps — so clients resume
/// across the move (same epoch, same seqs) when the store was shut down cleanly.
public enum RedisImport {
    public struct Plan: Sendable {
        public var epoch: String
        public var seq: UInt64
        public var tasks: Int
        public var events: Int
        /// Tasks or events this version cannot read (skipped, and said).
        public var skipped: Int
        /// False: the store was not shut down cleanly, so a new epoch starts (as a restart would).
        public var epochKept: Bool
        /// Everything but `meta`, which goes last (`metaCommand`): hosts see a store only once it is whole.
        public var commands: [RedisCommand]
        public var metaCommand: RedisCommand
    }

    public static func plan(_ state: StoredState, keys: RedisTaskKeys, newEpoch: String = RedisCommit.newNonce()) -> Plan {
        var commands: [RedisCommand] = []
        var skipped = 0
        var seq = state.seq
        for task in state.tasks {
            guard let value = try? JSONParser.parse(task.json), let record = TaskRecord.decode(value) else {
                skipped += 1
                continue
            }
            seq = max(seq, record.seq)
            commands.append(RedisCommand([Array("HSET".utf8), keys.tasks, Array(record.id.utf8), task.json]))
            commands.append(RedisCommand([Array("HSET".utf8), keys.seqs, Array(record.id.utf8), Array(String(record.seq).utf8)]))
            if let deadline = record.nextDeadline {
                commands.append(RedisCommand([Array("ZADD".utf8), keys.deadlines, Array(String(deadline).utf8), Array(record.id.utf8)]))
            }
        }
        let kept = state.cleanShutdown && state.epoch != nil
        var events = 0
        if kept {
            // The history only within the kept epoch: a client resuming from it gets exactly what it missed.
            for event in state.events.sorted(by: { $0.seq < $1.seq }) {
                guard let parts = StoredEventParts(event) else {
                    skipped += 1
                    continue
                }
                var fields: [[UInt8]] = [Array("e".utf8), Array(parts.event.utf8), Array("i".utf8), Array(event.taskID.utf8),
                                         Array("o".utf8), Array((event.owner ?? "").utf8)]
                if let json = parts.taskJSON { fields += [Array("j".utf8), json] }
                fields += [Array("n".utf8), Array(RedisCommit.newNonce().utf8), Array("c".utf8), Array("import".utf8)]
                commands.append(RedisCommand([Array("XADD".utf8), keys.events, Array("\(event.seq)-0".utf8)] + fields))
                events += 1
            }
        }
        let epoch = kept ? state.epoch! : newEpoch
        let meta = RedisCommand([Array("HSET".utf8), keys.meta, Array("epoch".utf8), Array(epoch.utf8),
                                 Array("seq".utf8), Array(String(seq).utf8)])
        return Plan(epoch: epoch, seq: seq, tasks: state.tasks.count - skipped, events: events, skipped: skipped,
                    epochKept: kept, commands: commands, metaCommand: meta)
    }

    /// Every key of the prefix, to clear a half-done import (one without `meta`).
    public static func allKeys(_ keys: RedisTaskKeys) -> [[UInt8]] {
        [keys.tasks, keys.seqs, keys.events, keys.deadlines, keys.owners]
    }
}
