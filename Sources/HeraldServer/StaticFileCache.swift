import Glibc
import HeraldLoop

/// One version of one file, as stat(2) reports it. Writing a file changes its size or mtime,
/// replacing it (editors, `cp`, `git checkout`) changes the inode: any of them makes a new
/// version, so cached bytes and ETags follow the file without a watcher.
struct StaticFileVersion: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64
    var size: Int
    /// Nanoseconds since 1970: two writes within one second are still told apart.
    var mtimeNanoseconds: Int64
    /// The inode's change time (nanoseconds): a rewrite that puts the old mtime back
    /// (utimensat, `touch -r`, `cp -p` over the same inode) and a chmod or chown change only
    /// this. Not part of the ETag (that text stays what it was), only of what a cached copy
    /// must match to be used.
    var ctimeNanoseconds: Int64 = 0

    var mtimeSeconds: Int { Int(mtimeNanoseconds.dividedRoundingDown(by: 1_000_000_000)) }
}

extension Int64 {
    fileprivate func dividedRoundingDown(by d: Int64) -> Int64 {
        let (q, r) = quotientAndRemainder(dividingBy: d)
        return r < 0 ? q - 1 : q
    }
}

/// The bytes of small files and the gzip output of compressible ones, keyed by realpath and
/// file version, bounded in total size and evicting the least recently used file first.
/// Shared by the loop threads: every access takes the lock, which is never held while a file
/// is read or compressed (two threads may then both do the work once; the later store wins).
final class StaticFileCache: @unchecked Sendable {
    /// The outcome of compressing one version once: when gzip does not make it smaller
    /// (already dense data), remember that too, or every request would try again.
    enum Gzipped: Equatable, Sendable {
        case smaller([UInt8])
        case notSmaller
    }

    private struct Entry {
        var version: StaticFileVersion
        var identity: [UInt8]?
        var gzipped: Gzipped?
        /// The header values derived from the version alone, worked out once per version
        /// (a few dozen bytes, not counted in `cost`; only kept on an entry that holds bytes).
        var validators: Validators?
        /// Where `responses` keeps this file's answers (its path relative to the root), if any.
        var responseKey: String? = nil
        /// Shared with `responses`' record of this file, so a request answered from there
        /// marks the entry used without looking it up by its (long) path.
        let use: UseStamp
        var lastUse: UInt64 {
            get { use.value }
            nonmutating set { use.value = newValue }
        }

        /// The bytes this entry holds; the path and bookkeeping are small next to them.
        var cost: Int {
            var n = identity?.count ?? 0
            if case .smaller(let bytes)? = gzipped { n += bytes.count }
            return n
        }
    }

    /// The ETags (identity and gzip) and the Last-Modified text of one version.
    struct Validators: Sendable {
        var entityTag: String
        var gzipEntityTag: String
        var lastModified: String
    }

    let maxBytes: Int
    private let lock = PThreadMutex()
    private var entries: [String: Entry] = [:]  // realpath → its latest cached version
    private var totalBytes = 0
    private var clock: UInt64 = 0
    private var gzipStores = 0
    /// The built answers of files reached without a symlink, by path relative to the root:
    /// one lookup per request, on the path as asked. Each belongs to the entry of its file
    /// (`responseKey`) and shares that entry's bytes, so the budget above still bounds them,
    /// and it goes when the entry goes.
    private var responses: [String: (file: StaticCachedFile, path: String, use: UseStamp)] = [:]
    /// The second in which `cachedFile(_:second:)` last asked for the root to be checked.
    private var rootCheckedSecond = Int.min
    private var rootReplaced = false

    init(maxBytes: Int) { self.maxBytes = maxBytes }

    /// The answers cached for `key` (a path relative to the root), still to be revalidated
    /// against the file; and whether the caller should now check that the root directory is
    /// still the one it holds open (the first request of each second is asked to).
    func cachedFile(_ key: String, second: Int) -> (file: StaticCachedFile?, checkRoot: Bool) {
        lock.withLock {
            guard !rootReplaced else { return (nil, false) }
            let checkRoot = second != rootCheckedSecond
            if checkRoot { rootCheckedSecond = second }
            return (lookupResponses(key), checkRoot)
        }
    }

    /// The answers cached for `key`, still to be revalidated against the file.
    func cachedFile(_ key: String) -> StaticCachedFile? {
        lock.withLock { lookupResponses(key) }
    }

    /// Kept only while `path` has an entry at `version` (its bytes are cached), like the
    /// validators; `key` is `path` relative to the root.
    func storeCachedFile(_ file: StaticCachedFile, key: String, path: String) {
        lock.withLock {
            guard entries[path]?.version == file.version else { return }
            if let old = entries[path]!.responseKey, old != key { responses[old] = nil }
            entries[path]!.responseKey = key
            responses[key] = (file, path, entries[path]!.use)
        }
    }

    /// The root directory is no longer the one opened at start (renamed, replaced): no
    /// answer is given from `cachedFile(_:second:)` any more, every request takes the paths.
    func rootWasReplaced() {
        lock.withLock {
            rootReplaced = true
            responses.removeAll()
        }
    }

    /// The cached bytes of `path` at exactly `version`.
    func identity(path: String, version: StaticFileVersion) -> [UInt8]? {
        lock.withLock { touch(path, version)?.identity }
    }

    func gzipped(path: String, version: StaticFileVersion) -> Gzipped? {
        lock.withLock { touch(path, version)?.gzipped }
    }

    func validators(path: String, version: StaticFileVersion) -> Validators? {
        lock.withLock { touch(path, version)?.validators }
    }

    /// Kept only when `path` already has an entry at `version` (its bytes are cached): a file
    /// too large to cache adds no entry, so the entry count stays bounded by the byte budget.
    func storeValidators(_ validators: Validators, path: String, version: StaticFileVersion) {
        lock.withLock {
            guard entries[path]?.version == version else { return }
            entries[path]!.validators = validators
        }
    }

    func storeIdentity(_ bytes: [UInt8], path: String, version: StaticFileVersion) {
        lock.withLock { store(path, version) { $0.identity = bytes } }
    }

    func storeGzipped(_ gzipped: Gzipped, path: String, version: StaticFileVersion) {
        lock.withLock {
            gzipStores += 1
            store(path, version) { $0.gzipped = gzipped }
        }
    }

    /// Bytes held, files cached and gzip outcomes stored so far (each one compression), for
    /// tests and metrics.
    var usage: (bytes: Int, files: Int, gzipStores: Int) { lock.withLock { (totalBytes, entries.count, gzipStores) } }

    // MARK: - under the lock

    private func lookupResponses(_ key: String) -> StaticCachedFile? {
        guard let hit = responses[key] else { return nil }
        clock += 1
        hit.use.value = clock
        return hit.file
    }

    /// The entry for `path` if it is at `version`, marked as just used. An entry for an older
    /// version is dropped: that file has changed and its bytes will never be asked for again.
    private func touch(_ path: String, _ version: StaticFileVersion) -> Entry? {
        guard let entry = entries[path] else { return nil }
        guard entry.version == version else {
            remove(path)
            return nil
        }
        clock += 1
        entry.lastUse = clock
        return entry
    }

    private func store(_ path: String, _ version: StaticFileVersion, _ update: (inout Entry) -> Void) {
        if let existing = entries[path], existing.version != version { remove(path) }
        clock += 1
        var entry = entries[path] ?? Entry(version: version, identity: nil, gzipped: nil, validators: nil, use: UseStamp(clock))
        let oldCost = entries[path]?.cost ?? 0
        update(&entry)
        entry.lastUse = clock
        guard entry.cost <= maxBytes else { return }  // would evict everything else: not worth it
        entries[path] = entry
        totalBytes += entry.cost - oldCost
        // Least recently used first. A linear scan: a dashboard has a few dozen files, and this
        // only runs when a store overflows the budget.
        while totalBytes > maxBytes, let victim = entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
            remove(victim)
        }
    }

    /// When an entry was last used (the cache's clock); only touched under the lock.
    final class UseStamp {
        var value: UInt64
        init(_ value: UInt64) { self.value = value }
    }

    private func remove(_ path: String) {
        if let old = entries.removeValue(forKey: path) {
            totalBytes -= old.cost
            if let key = old.responseKey { responses[key] = nil }
        }
    }
}
