import Foundation
import Glibc
import HeraldLoop
import HeraldWire
import Testing
@testable import HeraldServer

/// The static answers built once per file version (issue 18): the same bytes on the wire as
/// building them per request, and never an answer for a file that changed since. Each
/// change-detection test first makes sure the answer is cached, then changes the file in one
/// way, and fails if the cached answer were given without revalidating the file.
@Suite struct StaticFileResponseCacheTests {
    /// What the client receives: the head and in-memory body as serialized, and the body.
    static func wire(_ response: HTTPResponse, method: String) -> [UInt8] {
        let actions = ResponseSerializer.serialize(
            response, method: method, version: .http1_1, keepAlive: true, date: "Fri, 04 Dec 2026 20:00:00 GMT", server: "herald")
        return ServerFastPathEquivalenceTests.written(actions) + (method == "HEAD" || response.status != 200 ? [] : fileBody(response))
    }

    static func fileBody(_ response: HTTPResponse) -> [UInt8] {
        if case .file = response.body { return staticBody(response) }
        return []
    }

    /// A server on `dir` that builds every answer per request (the code before the cache).
    static func reference(_ dir: TempPublicDir) throws -> StaticFileServer {
        StaticFileServer(source: try DirectoryFileSource(root: dir.root, cachesResponses: false))
    }

    static func text(_ r: HTTPResponse) -> String { String(decoding: staticBody(r), as: UTF8.self) }

    @Test func sameBytesAsBuildingEachAnswer() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("small.html", "<!doctype html><title>bench</title>" + String(repeating: "x", count: 1000) + "\n")
        try dir.write("app.js", String(repeating: "a", count: 600))
        try dir.write("tiny.css", "b{}")
        try dir.write("blob.bin", (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7919) })
        var rng = SystemRandomNumberGenerator()
        try dir.write("dense.js", (0..<2000).map { _ in UInt8.random(in: 0...255, using: &rng) })
        try dir.write("big.html", String(repeating: "<p>big</p>\n", count: 10_000))
        try dir.write("index.html", "<h1>root</h1>")
        try dir.write("sub/page.html", "<p>page</p>")
        try dir.write("sub/index.html", "<p>sub</p>")
        try dir.write("sub/deeper/app.css", String(repeating: "body{color:red}\n", count: 40))
        try dir.symlink("link.html", to: dir.root + "/small.html")
        try dir.setModificationTime("app.js", seconds: 1_700_000_000, nanoseconds: 123)
        let cached = try dir.server()
        let reference = try Self.reference(dir)
        let targets = ["/small.html", "/app.js", "/tiny.css", "/blob.bin", "/dense.js", "/big.html", "/", "/sub/page.html",
                       "/sub/", "/sub", "/sub/deeper/app.css", "/link.html", "/missing.html", "/sub/missing.js", "/small.html/"]
        for target in targets {
            let plain = reference.respond(to: staticRequest(target))
            let gzip = reference.respond(to: staticRequest(target, ["Accept-Encoding": "gzip"]))
            var variants: [HTTPHeaders] = [
                [:], ["Accept-Encoding": "gzip"], ["Accept-Encoding": "gzip;q=0"], ["If-None-Match": "\"nope\""],
                ["If-None-Match": "*"], ["If-None-Match": "garbage"], ["If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"],
            ]
            if let tag = plain.headers["ETag"] {
                variants.append(["If-None-Match": tag])
                variants.append(["If-None-Match": tag, "Accept-Encoding": "gzip"])
            }
            if let tag = gzip.headers["ETag"] {
                variants.append(["If-None-Match": "\"x\", " + tag, "Accept-Encoding": "gzip"])
                variants.append(["If-None-Match": tag])
            }
            if let date = plain.headers["Last-Modified"] {
                variants.append(["If-Modified-Since": date])
                variants.append(["If-Modified-Since": date, "Accept-Encoding": "gzip"])
            }
            for headers in variants {
                for method in ["GET", "HEAD"] {
                    let expected = reference.respond(to: staticRequest(target, headers, method: method))
                    for round in 0..<3 {  // the first builds the answer, the next ones reuse it
                        let got = cached.respond(to: staticRequest(target, headers, method: method))
                        #expect(Self.wire(got, method: method) == Self.wire(expected, method: method),
                                "\(method) \(target) \(headers) round \(round)")
                        #expect(staticBody(got) == staticBody(expected), "\(method) \(target) \(headers) round \(round)")
                    }
                }
            }
        }
        // The cached answers are in use: one per file reached without a symlink and held in memory.
        for key in ["small.html", "app.js", "tiny.css", "blob.bin", "dense.js", "big.html", "sub/page.html", "sub/deeper/app.css"] {
            #expect(cached.directory.cache.cachedFile(key) != nil, "\(key)")
        }
        #expect(cached.directory.cache.cachedFile("big.html")?.forPlainClients == nil)  // sent with sendfile
        #expect(cached.directory.cache.cachedFile("link.html") == nil)
    }

    /// The shortcut's name is exactly the one segment `parse` gives, and it is nil whenever
    /// `parse` gives anything else.
    @Test func plainFileNameAgreesWithParse() {
        let paths = ["/small.html", "/a", "/", "//", "/a/", "/a/b", "/.env", "/..", "/.", "/%41.html", "/a%2fb", "/a\\b",
                     "/a\u{0}b", "/héllo.txt", "/space name.txt", "/a?b", "a.html", "", "/" + String(repeating: "x", count: 4095),
                     "/" + String(repeating: "x", count: 4096), "/x.", "/...", "/a..b"]
        for raw in paths {
            let parsed = StaticFilePath.parse(raw)
            if let name = StaticFilePath.plainFileName(raw) {
                guard case .success(let path) = parsed else {
                    Issue.record("\(raw): parse refused what plainFileName took")
                    continue
                }
                #expect(path.segments == [name] && !path.hasTrailingSlash, "\(raw)")
            } else if case .success(let path) = parsed {
                // Not taken: fine, as long as it would not have been one plain segment.
                #expect(path.segments.count != 1 || path.hasTrailingSlash || raw.contains("%"), "\(raw)")
            }
        }
        #expect(StaticFilePath.plainFileName("/small.html") == "small.html")
    }

    /// The one-pass reading of a plain `Accept-Encoding` gives the full parser's answer.
    @Test func plainAcceptEncodingAgreesWithTheParser() {
        var corpus = ["gzip", "gzip, deflate, br, zstd", "deflate, br", "GZIP", "x-gzip", "X-Gzip ,br", " gzip ", "\tgzip\t,",
                      "gz ip", "g zip", "gzipp", "agzip", "xgzip", "x-gzipx", ",,gzip,,", "", " ", ",", "identity", "br;q=1, gzip;q=0",
                      "gzip;q=0", "*", "*;q=0", "gzip;q=0, *", "gzi\u{0}p", "gzíp", "deflate, gzip", "12345678gzip", "xxxxgzip"]
        let alphabet: [String] = ["g", "z", "i", "p", "x", "-", "G", "Z", "I", "P", " ", "\t", ",", ";", "q", "=", "0", "1", ".", "*", "é", "a"]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            corpus.append((0..<Int.random(in: 0...14, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }.joined())
        }
        for _ in 0..<5_000 {  // codings built from the pieces the fast path must tell apart
            let pieces = ["gzip", "GZip", "x-gzip", "br", "deflate", "zstd", "gzip ", " gzip", "g zip", "x-gzipp", ""]
            corpus.append((0..<Int.random(in: 1...4, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined(separator: ","))
        }
        for value in corpus {
            #expect(StaticFileServer.acceptsGzip(["Accept-Encoding": value]) == StaticFileServer.acceptsGzip(fieldValues: [value]), "\(value.debugDescription)")
        }
        #expect(StaticFileServer.plainCodingsIncludeGzip("gzip, deflate, br, zstd") == true)
        #expect(StaticFileServer.plainCodingsIncludeGzip("deflate, br") == false)
        #expect(StaticFileServer.plainCodingsIncludeGzip("gzip;q=0") == nil)
        var two = HTTPHeaders()
        two.add(name: "Accept-Encoding", value: "br")
        two.add(name: "Accept-Encoding", value: "gzip;q=0.5")
        #expect(StaticFileServer.acceptsGzip(two))
    }

    @Test func embeddedAnswersAreTheOnesBuiltPerRequest() throws {
        let files = [
            EmbeddedFile(path: "index.html", bytes: Array("<h1>dash</h1>".utf8), gzipped: nil, digest: "ab12", lastModifiedSeconds: 1_700_000_000),
            EmbeddedFile(path: "js/app.js", bytes: Array(String(repeating: "a", count: 600).utf8),
                         gzipped: GzipCompressor.compress(Array(String(repeating: "a", count: 600).utf8)), digest: "cd34", lastModifiedSeconds: 1_700_000_001),
            EmbeddedFile(path: "tiny.js", bytes: Array("x".utf8), gzipped: [1, 2, 3], digest: "ef56", lastModifiedSeconds: 5),
        ]
        let source = EmbeddedFileSource(files: files)
        #expect(source.cachedResponse(forName: "js", acceptsGzip: false) == nil)  // a directory: the redirect
        #expect(source.cachedResponse(forName: "index.html", acceptsGzip: false) != nil)
        for target in ["/", "/index.html", "/js/app.js", "/tiny.js"] {
            guard case .success(let path) = StaticFilePath.parse(target) else { Issue.record("\(target)"); continue }
            let variants: [HTTPHeaders] = [
                [:], ["Accept-Encoding": "gzip"], ["If-None-Match": "\"ab12\""], ["If-None-Match": "\"cd34-gz\"", "Accept-Encoding": "gzip"],
                ["If-None-Match": "\"cd34\"", "Accept-Encoding": "gzip"], ["If-Modified-Since": "Tue, 14 Nov 2023 22:13:21 GMT"],
            ]
            for headers in variants {
                let acceptsGzip = StaticFileServer.acceptsGzip(headers)
                guard case .cached(let cached) = source.lookup(path, query: nil, acceptsGzip: acceptsGzip),
                      let expected = source.uncachedLookupResponse(path, acceptsGzip: acceptsGzip, request: headers) else {
                    Issue.record("no cached answer for \(target)")
                    continue
                }
                for method in ["GET", "HEAD"] {
                    #expect(Self.wire(cached.response(to: headers), method: method) == Self.wire(expected, method: method), "\(target) \(headers)")
                }
            }
        }
    }

    // MARK: - Change detection, a file directly in the root (the fstatat path)

    /// A server with `name` holding `text`, whose answer is cached (so the next request for it
    /// would be answered from the cache if nothing checked the file).
    static func servedAndCached(_ dir: TempPublicDir, _ name: String, _ content: String) throws -> StaticFileServer {
        try dir.write(name, content)
        let server = try dir.server()
        #expect(text(server.respond(to: staticRequest("/" + name))) == content)
        #expect(text(server.respond(to: staticRequest("/" + name))) == content)
        #expect(server.directory.cache.cachedFile(name) != nil)
        usleep(20_000)  // past the kernel's timestamp granularity: the change gets another ctime
        return server
    }

    static func overwriteInPlace(_ path: String, _ text: String) throws {
        let fd = open(path, O_WRONLY | O_TRUNC)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw POSIXError(.EIO) }
    }

    static func mtime(_ path: String) -> timespec {
        var st = stat()
        _ = stat(path, &st)
        return st.st_mtim
    }

    static func setMtime(_ path: String, _ t: timespec) {
        var times = [t, t]
        _ = utimensat(AT_FDCWD, path, &times, 0)
    }

    @Test func rewrittenInPlaceSameSizeSameMtime() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let server = try Self.servedAndCached(dir, "a.html", "first version")
        let path = dir.root + "/a.html"
        let before = Self.mtime(path)
        try Self.overwriteInPlace(path, "other version")  // same size, same inode
        Self.setMtime(path, before)  // the same mtime to the nanosecond: only ctime tells
        #expect(Self.mtime(path).tv_sec == before.tv_sec && Self.mtime(path).tv_nsec == before.tv_nsec)
        #expect(Self.text(server.respond(to: staticRequest("/a.html"))) == "other version")
    }

    @Test func sizeChange() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let server = try Self.servedAndCached(dir, "a.html", "short")
        try Self.overwriteInPlace(dir.root + "/a.html", "a longer text")
        let r = server.respond(to: staticRequest("/a.html"))
        #expect(Self.text(r) == "a longer text")
        #expect(r.headers["ETag"] == (try Self.reference(dir)).respond(to: staticRequest("/a.html")).headers["ETag"])
    }

    @Test func mtimeChangeAlone() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let server = try Self.servedAndCached(dir, "a.html", "same text")
        let oldTag = server.respond(to: staticRequest("/a.html")).headers["ETag"]
        try dir.setModificationTime("a.html", seconds: 1_600_000_000)
        let r = server.respond(to: staticRequest("/a.html"))
        #expect(r.headers["ETag"] != oldTag)
        #expect(r.headers["Last-Modified"] == HTTPDate.format(secondsSince1970: 1_600_000_000))
        // The old tag no longer gives a 304.
        #expect(server.respond(to: staticRequest("/a.html", ["If-None-Match": oldTag!])).status == 200)
    }

    @Test func chmodIsNoticed() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let server = try Self.servedAndCached(dir, "a.html", "secret")
        let path = dir.root + "/a.html"
        let cachedCtime = server.directory.cache.cachedFile("a.html")?.version.ctimeNanoseconds
        chmod(path, 0)
        let r = server.respond(to: staticRequest("/a.html"))
        let expected = try Self.reference(dir).respond(to: staticRequest("/a.html"))
        #expect(Self.wire(r, method: "GET") == Self.wire(expected, method: "GET"))
        if getuid() != 0 {
            #expect(r.status == 403)  // refused as without the cache
        } else {
            // Root reads it anyway: the answer was rebuilt for the new ctime, not reused.
            #expect(r.status == 200)
            #expect(server.directory.cache.cachedFile("a.html")?.version.ctimeNanoseconds != cachedCtime)
        }
    }

    @Test func renamedOverWithSameSizeAndMtime() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let server = try Self.servedAndCached(dir, "a.html", "version one")
        let path = dir.root + "/a.html"
        try dir.write("a.html.tmp", "version two")
        Self.setMtime(dir.root + "/a.html.tmp", Self.mtime(path))
        #expect(rename(dir.root + "/a.html.tmp", path) == 0)
        #expect(Self.text(server.respond(to: staticRequest("/a.html"))) == "version two")
    }

    @Test func deletedIsNotFound() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let server = try Self.servedAndCached(dir, "a.html", "here")
        #expect(unlink(dir.root + "/a.html") == 0)
        #expect(server.respond(to: staticRequest("/a.html")).status == 404)
        #expect(server.respond(to: staticRequest("/a.html", ["If-None-Match": "*"])).status == 404)
    }

    @Test func replacedBySymlinkIsRefusedAsBefore() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let server = try Self.servedAndCached(dir, "a.html", "inside")
        try dir.writeOutside("a.html", "outside")
        #expect(unlink(dir.root + "/a.html") == 0)
        try dir.symlink("a.html", to: dir.outside + "/a.html")
        let r = server.respond(to: staticRequest("/a.html"))
        #expect(r.status == 404)
        #expect(Self.wire(r, method: "GET") == Self.wire(try Self.reference(dir).respond(to: staticRequest("/a.html")), method: "GET"))
        // A symlink inside the root is followed as before (realpath), never cached under its name.
        try dir.write("b.html", "target")
        #expect(unlink(dir.root + "/a.html") == 0)
        try dir.symlink("a.html", to: dir.root + "/b.html")
        #expect(Self.text(server.respond(to: staticRequest("/a.html"))) == "target")
        #expect(Self.text(server.respond(to: staticRequest("/a.html"))) == "target")
        // What `a.html` still holds is the old file's (refused by every fstatat: a symlink now),
        // never the target's.
        var st = stat()
        #expect(stat(dir.root + "/b.html", &st) == 0)
        #expect(server.directory.cache.cachedFile("a.html")?.version != StaticFileVersion(st))
        #expect(server.directory.cache.cachedFile("b.html") == nil)
    }

    @Test func replacedByDirectory() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let server = try Self.servedAndCached(dir, "a.html", "file")
        #expect(unlink(dir.root + "/a.html") == 0)
        try dir.write("a.html/index.html", "index")
        let r = server.respond(to: staticRequest("/a.html"))
        #expect(r.status == 301)
        #expect(r.headers["Location"] == "/a.html/")
    }

    @Test func replacedByFifoIsNotFound() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let server = try Self.servedAndCached(dir, "a.html", "file")
        #expect(unlink(dir.root + "/a.html") == 0)
        #expect(mkfifo(dir.root + "/a.html", 0o644) == 0)
        #expect(server.respond(to: staticRequest("/a.html")).status == 404)
    }

    // MARK: - Deeper paths (openat2, then the cached answer)

    @Test func nestedFileChangeIsNoticed() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let server = try Self.servedAndCached(dir, "sub/a.html", "one")
        try Self.overwriteInPlace(dir.root + "/sub/a.html", "two")
        #expect(Self.text(server.respond(to: staticRequest("/sub/a.html"))) == "two")
    }

    @Test func parentReplacedBySymlinkIsRefused() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let server = try Self.servedAndCached(dir, "sub/a.html", "inside")
        // The same file (same inode: a rename) now reached through a symlinked directory.
        #expect(rename(dir.root + "/sub", dir.outside + "/sub") == 0)
        try dir.symlink("sub", to: dir.outside + "/sub")
        #expect(server.respond(to: staticRequest("/sub/a.html")).status == 404)
    }

    @Test func replacedRootIsNoticedWithinASecond() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let server = try Self.servedAndCached(dir, "a.html", "old root")
        #expect(rename(dir.root, dir.base + "/old-public") == 0)
        try FileManager.default.createDirectory(atPath: dir.root, withIntermediateDirectories: true)
        try dir.write("a.html", "new root")
        usleep(1_100_000)
        #expect(Self.text(server.respond(to: staticRequest("/a.html"))) == "new root")
    }
}
