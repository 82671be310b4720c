import Testing
@testable import HeraldServer

@Suite struct StaticFileCacheTests {
    static func version(_ n: Int, size: Int = 10) -> StaticFileVersion {
        StaticFileVersion(device: 1, inode: UInt64(n), size: size, mtimeNanoseconds: Int64(n) * 1_000_000_000)
    }

    @Test func storesAndFindsByPathAndVersion() {
        let cache = StaticFileCache(maxBytes: 1000)
        cache.storeIdentity([1, 2, 3], path: "/p/a", version: Self.version(1))
        cache.storeGzipped(.smaller([9]), path: "/p/a", version: Self.version(1))
        #expect(cache.identity(path: "/p/a", version: Self.version(1)) == [1, 2, 3])
        #expect(cache.gzipped(path: "/p/a", version: Self.version(1)) == .smaller([9]))
        #expect(cache.identity(path: "/p/b", version: Self.version(1)) == nil)
        #expect(cache.usage.bytes == 4)
    }

    @Test func aNewVersionReplacesTheOld() {
        let cache = StaticFileCache(maxBytes: 1000)
        cache.storeIdentity([1, 2, 3], path: "/p/a", version: Self.version(1))
        cache.storeGzipped(.smaller([1]), path: "/p/a", version: Self.version(2))
        #expect(cache.usage.bytes == 1)
        #expect(cache.usage.files == 1)
        #expect(cache.gzipped(path: "/p/a", version: Self.version(2)) == .smaller([1]))
        #expect(cache.identity(path: "/p/a", version: Self.version(2)) == nil)  // v1's bytes are not v2's
    }

    @Test func askingForAnotherVersionDropsTheStaleEntry() {
        let cache = StaticFileCache(maxBytes: 1000)
        cache.storeIdentity([1, 2, 3], path: "/p/a", version: Self.version(1))
        #expect(cache.identity(path: "/p/a", version: Self.version(2)) == nil)
        #expect(cache.usage.files == 0)
        #expect(cache.usage.bytes == 0)
    }

    @Test func evictsTheLeastRecentlyUsedPastTheBudget() {
        let cache = StaticFileCache(maxBytes: 300)
        let hundred = [UInt8](repeating: 7, count: 100)
        cache.storeIdentity(hundred, path: "/a", version: Self.version(1))
        cache.storeIdentity(hundred, path: "/b", version: Self.version(1))
        cache.storeIdentity(hundred, path: "/c", version: Self.version(1))
        #expect(cache.identity(path: "/a", version: Self.version(1)) != nil)  // /b is now the oldest
        cache.storeIdentity(hundred, path: "/d", version: Self.version(1))
        #expect(cache.usage.bytes == 300)
        #expect(cache.identity(path: "/b", version: Self.version(1)) == nil)
        #expect(cache.identity(path: "/a", version: Self.version(1)) != nil)
        #expect(cache.identity(path: "/c", version: Self.version(1)) != nil)
        #expect(cache.identity(path: "/d", version: Self.version(1)) != nil)
    }

    @Test func budgetAtTheLimitHoldsAndOneBytePastEvicts() {
        let cache = StaticFileCache(maxBytes: 200)
        cache.storeIdentity([UInt8](repeating: 1, count: 100), path: "/a", version: Self.version(1))
        cache.storeIdentity([UInt8](repeating: 1, count: 100), path: "/b", version: Self.version(1))
        #expect(cache.usage == (200, 2, 0))
        cache.storeGzipped(.smaller([1]), path: "/b", version: Self.version(1))
        #expect(cache.usage.bytes == 101)
        #expect(cache.identity(path: "/a", version: Self.version(1)) == nil)
    }

    @Test func anEntryLargerThanTheBudgetIsNotStored() {
        let cache = StaticFileCache(maxBytes: 50)
        cache.storeIdentity([UInt8](repeating: 1, count: 10), path: "/small", version: Self.version(1))
        cache.storeIdentity([UInt8](repeating: 1, count: 51), path: "/huge", version: Self.version(1))
        #expect(cache.identity(path: "/huge", version: Self.version(1)) == nil)
        #expect(cache.identity(path: "/small", version: Self.version(1)) != nil)
    }

    @Test func notSmallerOutcomesAreRemembered() {
        let cache = StaticFileCache(maxBytes: 50)
        cache.storeGzipped(.notSmaller, path: "/noise", version: Self.version(1))
        #expect(cache.gzipped(path: "/noise", version: Self.version(1)) == .notSmaller)
        #expect(cache.usage.bytes == 0)
    }

    @Test func mtimeSecondsRoundDown() {
        #expect(StaticFileVersion(device: 0, inode: 0, size: 0, mtimeNanoseconds: 1_999_999_999).mtimeSeconds == 1)
        #expect(StaticFileVersion(device: 0, inode: 0, size: 0, mtimeNanoseconds: -1).mtimeSeconds == -1)
    }

    @Test func validatorsAreKeptOnlyOnACachedVersion() {
        let cache = StaticFileCache(maxBytes: 1000)
        let v = StaticFileCache.Validators(entityTag: "\"a\"", gzipEntityTag: "\"a-gz\"", lastModified: "x")
        cache.storeValidators(v, path: "/p/a", version: Self.version(1))  // no bytes cached: no entry
        #expect(cache.usage.files == 0)
        #expect(cache.validators(path: "/p/a", version: Self.version(1)) == nil)
        cache.storeIdentity([1], path: "/p/a", version: Self.version(1))
        cache.storeValidators(v, path: "/p/a", version: Self.version(1))
        #expect(cache.validators(path: "/p/a", version: Self.version(1))?.entityTag == "\"a\"")
        cache.storeValidators(v, path: "/p/a", version: Self.version(2))  // another version: ignored
        #expect(cache.validators(path: "/p/a", version: Self.version(2)) == nil)  // and v1 is dropped
        #expect(cache.usage.files == 0)
    }
}
