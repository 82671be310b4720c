import Foundation
import Glibc
import HeraldLoop
import HeraldWire
import Testing
@testable import HeraldServer

@Suite struct StaticFileServerTests {
    @Test func servesAFileWithTypeValidatorsAndNosniff() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("app.js", "console.log('herald')\n")
        let response = try dir.server().respond(to: staticRequest("/app.js"))
        #expect(response.status == 200)
        #expect(response.headers["Content-Type"] == "text/javascript; charset=utf-8")
        #expect(response.headers["X-Content-Type-Options"] == "nosniff")
        #expect(response.headers["Cache-Control"] == "no-cache")
        #expect(response.headers["ETag"]?.hasPrefix("\"") == true)
        #expect(response.headers["ETag"]?.hasSuffix("\"") == true)
        #expect(response.headers["Last-Modified"]?.hasSuffix(" GMT") == true)
        #expect(response.headers["Vary"] == "Accept-Encoding")
        #expect(response.headers["Content-Encoding"] == nil)
        #expect(staticBody(response) == Array("console.log('herald')\n".utf8))
    }

    /// ETag and Last-Modified come from a per-version cache after the first request: they must
    /// be the text computed from the file's stat each time, and follow a change of the file.
    @Test func cachedValidatorsMatchTheFileAndFollowAChange() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("app.js", String(repeating: "a", count: 600))
        try dir.setModificationTime("app.js", seconds: 1_700_000_000)
        let server = try dir.server()
        func expected(gzip: Bool) throws -> (String, String) {
            var st = stat()
            guard stat(dir.root + "/app.js", &st) == 0 else { throw POSIXError(.EIO) }
            let version = StaticFileVersion(st)
            return (DirectoryFileSource.entityTag(version, gzip: gzip), HTTPDate.format(secondsSince1970: version.mtimeSeconds))
        }
        for gzip in [false, true, false, true] {
            let r = server.respond(to: staticRequest("/app.js", gzip ? ["Accept-Encoding": "gzip"] : [:]))
            let (tag, date) = try expected(gzip: gzip)
            #expect(r.headers["ETag"] == tag)
            #expect(r.headers["Last-Modified"] == date)
        }
        #expect(server.directory.cache.validators(path: dir.root + "/app.js", version: try {
            var st = stat(); _ = stat(dir.root + "/app.js", &st); return StaticFileVersion(st) }()) != nil)
        try dir.setModificationTime("app.js", seconds: 1_700_000_100)
        for gzip in [false, true] {
            let r = server.respond(to: staticRequest("/app.js", gzip ? ["Accept-Encoding": "gzip"] : [:]))
            let (tag, date) = try expected(gzip: gzip)
            #expect(r.headers["ETag"] == tag)
            #expect(r.headers["Last-Modified"] == date)
        }
    }

    @Test func unknownExtensionIsOctetStreamWithoutVary() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("blob.bin", String(repeating: "x", count: 1000))
        let response = try dir.server().respond(to: staticRequest("/blob.bin", ["Accept-Encoding": "gzip"]))
        #expect(response.status == 200)
        #expect(response.headers["Content-Type"] == "application/octet-stream")
        #expect(response.headers["Vary"] == nil)
        #expect(response.headers["Content-Encoding"] == nil)
    }

    @Test func missingFileIsNotFoundJSON() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let response = try dir.server().respond(to: staticRequest("/nope.js"))
        #expect(response.status == 404)
        #expect(response.headers["Content-Type"] == "application/json")
        #expect(String(decoding: staticBody(response), as: UTF8.self).contains("\"code\":\"not_found\""))
    }

    @Test func directoryServesItsIndex() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("index.html", "<h1>root</h1>")
        try dir.write("sub/index.html", "<h1>sub</h1>")
        let server = try dir.server()
        let root = server.respond(to: staticRequest("/"))
        #expect(root.status == 200)
        #expect(root.headers["Content-Type"] == "text/html; charset=utf-8")
        #expect(staticBody(root) == Array("<h1>root</h1>".utf8))
        #expect(staticBody(server.respond(to: staticRequest("/sub/"))) == Array("<h1>sub</h1>".utf8))
        #expect(staticBody(server.respond(to: staticRequest("/sub/?v=2"))) == Array("<h1>sub</h1>".utf8))
    }

    @Test func directoryWithoutTrailingSlashRedirects() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("sub/index.html", "<h1>sub</h1>")
        try dir.write("a b/index.html", "spaced")
        let server = try dir.server()
        let cases = [("/sub", "/sub/"), ("/sub?tab=2&x", "/sub/?tab=2&x"), ("//sub", "/sub/"), ("/a%20b", "/a%20b/")]
        for (target, location) in cases {
            let response = server.respond(to: staticRequest(target))
            #expect(response.status == 301, "\(target)")
            #expect(response.headers["Location"] == location)
            #expect(response.body.count == 0)
        }
    }

    @Test func directoryWithoutIndexIsNotFound() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("empty/other.txt", "x")
        try dir.mkdir("dir/index.html")  // an index that is a directory is no page
        let server = try dir.server()
        #expect(server.respond(to: staticRequest("/empty/")).status == 404)
        #expect(server.respond(to: staticRequest("/dir/")).status == 404)
    }

    @Test func fileAskedForAsDirectoryIsNotFound() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("app.js", "x")
        #expect(try dir.server().respond(to: staticRequest("/app.js/")).status == 404)
    }

    @Test func emptySegmentsCollapseAndEscapesDecode() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("sub/page.html", "page")
        try dir.write("a b.txt", "spaced")
        try dir.write("%2e%2e", "literal")
        let server = try dir.server()
        #expect(staticBody(server.respond(to: staticRequest("//sub///page.html"))) == Array("page".utf8))
        #expect(staticBody(server.respond(to: staticRequest("/a%20b.txt"))) == Array("spaced".utf8))
        #expect(staticBody(server.respond(to: staticRequest("/%252e%252e"))) == Array("literal".utf8))
    }

    @Test(arguments: ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get"])
    func otherMethodsAreNotAllowed(method: String) throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("index.html", "x")
        let response = try dir.server().respond(to: HTTPRequestHead(method: method, target: "/index.html"))
        #expect(response.status == 405)
        #expect(response.headers["Allow"] == "GET, HEAD")
        #expect(response.headers["Content-Type"] == "application/json")
        #expect(String(decoding: staticBody(response), as: UTF8.self).contains("\"code\":\"method_not_allowed\""))
    }

    @Test func headHasTheSameHeadersAndBodyAsGet() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("small.css", String(repeating: "a { color: red }\n", count: 100))
        try dir.write("big.bin", String(repeating: "z", count: 100_000))
        let server = try dir.server()
        for target in ["/small.css", "/big.bin"] {
            for encoding in ["gzip", "identity"] {
                let getResponse = server.respond(to: staticRequest(target, ["Accept-Encoding": encoding]))
                let headResponse = server.respond(to: staticRequest(target, ["Accept-Encoding": encoding], method: "HEAD"))
                #expect(headResponse.status == getResponse.status)
                #expect(headResponse.headers == getResponse.headers)
                #expect(headResponse.body.count == getResponse.body.count)
            }
        }
    }

    @Test func smallFileIsInMemoryUpToTheLimit() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let content = [UInt8](repeating: 0x41, count: StaticFileServer.maxInMemoryFileBytes)
        try dir.write("at-limit.bin", content)
        let response = try dir.server().respond(to: staticRequest("/at-limit.bin"))
        guard case .bytes(let bytes) = response.body else {
            Issue.record("expected in-memory bytes")
            return
        }
        #expect(bytes == content)
    }

    @Test func fileOnePastTheInMemoryLimitIsAFileRegion() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let content = GzipCompressorTests.random(StaticFileServer.maxInMemoryFileBytes + 1, seed: 3)
        try dir.write("big.png", content)
        let response = try dir.server().respond(to: staticRequest("/big.png"))
        guard case .file(let region) = response.body else {
            Issue.record("expected a file region")
            return
        }
        #expect(region.offset == 0)
        #expect(region.length == content.count)
        #expect(staticBody(response) == content)
    }

    @Test func fileRegionClosesItsDescriptorWhenReleased() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("big.bin", [UInt8](repeating: 1, count: 200_000))
        let server = try dir.server()
        var fd: Int32 = -1
        do {
            let response = server.respond(to: staticRequest("/big.bin"))
            guard case .file(let region) = response.body else {
                Issue.record("expected a file region")
                return
            }
            fd = region.file.fd
            #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0)
            #expect(Self.openPath(fd) == dir.root + "/big.bin")
        }
        // Closed with the last reference. Tests run in parallel and may reuse the number at
        // once, so check what it names rather than whether it is open.
        #expect(Self.openPath(fd) != dir.root + "/big.bin")
    }

    static func openPath(_ fd: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        return n < 0 ? nil : String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    @Test func missingRootThrowsAClearMessage() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let missing = dir.base + "/does-not-exist"
        #expect(throws: StaticFileServerError(path: missing, reason: "No such file or directory")) {
            try StaticFileServer(root: missing)
        }
        let error = StaticFileServerError(path: missing, reason: "No such file or directory")
        #expect(error.description == "cannot read --public \(missing): No such file or directory")
    }

    @Test func regularFileAsRootThrows() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("file.txt", "x")
        #expect(throws: StaticFileServerError(path: dir.root + "/file.txt", reason: "not a directory")) {
            try StaticFileServer(root: dir.root + "/file.txt")
        }
    }

    @Test(.enabled(if: getuid() != 0, "root can read any directory"))
    func unreadableRootThrows() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.mkdir("locked")
        chmod(dir.root + "/locked", 0)
        defer { chmod(dir.root + "/locked", 0o755) }
        #expect(throws: StaticFileServerError(path: dir.root + "/locked", reason: "Permission denied")) {
            try StaticFileServer(root: dir.root + "/locked")
        }
    }

    @Test func rootIsKeptAsItsRealpath() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("a.txt", "via link")
        #expect(symlink(dir.root, dir.base + "/link") == 0)
        let server = try StaticFileServer(root: dir.base + "/link/")
        #expect(server.directory.root == dir.root)
        #expect(staticBody(server.respond(to: staticRequest("/a.txt"))) == Array("via link".utf8))
    }

    @Test func concurrentRequestsAllGetTheRightBytes() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        var files: [String: [UInt8]] = [:]
        for i in 0..<8 {
            let content = Array(String(repeating: "line \(i) of the dashboard\n", count: 50 * (i + 1)).utf8)
            files["/f\(i).js"] = content
            try dir.write("f\(i).js", content)
        }
        let server = try dir.server()
        let snapshot = files
        let failures = StaticFileTestCounter()
        DispatchQueue.concurrentPerform(iterations: 400) { i in
            let target = "/f\(i % 8).js"
            let gzip = i % 3 == 0
            let response = server.respond(to: staticRequest(target, gzip ? ["Accept-Encoding": "gzip"] : [:]))
            var body = staticBody(response)
            if response.headers["Content-Encoding"] == "gzip" { body = GzipCompressor.gunzip(body) ?? [] }
            if response.status != 200 || body != snapshot[target] { failures.increment() }
        }
        #expect(failures.value == 0)
        // Warm now: another round compresses nothing.
        let stores = server.directory.cache.usage.gzipStores
        for i in 0..<8 { _ = server.respond(to: staticRequest("/f\(i).js", ["Accept-Encoding": "gzip"])) }
        #expect(server.directory.cache.usage.gzipStores == stores)
    }
}

// MARK: - Fixture

/// A public directory under a fresh temporary base, next to an `outside` directory for
/// symlink targets that must never be served; all of it is removed by `remove()`.
final class TempPublicDir {
    let base: String
    let root: String
    var outside: String { base + "/outside" }

    init(rootName: String = "public") throws {
        var template = Array("/tmp/herald-static-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        base = String(cString: made)
        root = base + "/" + rootName
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
    }

    /// Explicit, not in deinit: Swift may release an object right after its last use, which
    /// would delete the files while the server still reads them.
    func remove() { try? FileManager.default.removeItem(atPath: base) }

    func server() throws -> StaticFileServer { try StaticFileServer(root: root) }

    func write(_ relative: String, _ text: String) throws { try write(relative, Array(text.utf8)) }

    func write(_ relative: String, _ bytes: [UInt8]) throws { try Self.write(root + "/" + relative, bytes) }

    func writeOutside(_ relative: String, _ text: String) throws { try Self.write(outside + "/" + relative, Array(text.utf8)) }

    func mkdir(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: root + "/" + relative, withIntermediateDirectories: true)
    }

    func symlink(_ relative: String, to target: String) throws {
        guard Glibc.symlink(target, root + "/" + relative) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
    }

    /// Sets a file's mtime to `seconds` since 1970 (plus `nanoseconds`).
    func setModificationTime(_ relative: String, seconds: Int, nanoseconds: Int = 0) throws {
        var times = [timespec(tv_sec: seconds, tv_nsec: nanoseconds), timespec(tv_sec: seconds, tv_nsec: nanoseconds)]
        guard utimensat(AT_FDCWD, root + "/" + relative, &times, 0) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
    }

    private static func write(_ path: String, _ bytes: [UInt8]) throws {
        let parent = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw POSIXError(.EIO)
        }
    }
}

extension StaticFileServer {
    /// The source of a server on a directory (`--public`), with its root and cache.
    var directory: DirectoryFileSource { source as! DirectoryFileSource }
}

final class StaticFileTestCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

func staticRequest(_ target: String, _ headers: HTTPHeaders = [:], method: String = "GET") -> HTTPRequestHead {
    HTTPRequestHead(method: method, target: target, headers: headers)
}

/// The body as the client would receive it; a file region is read the way sendfile would.
func staticBody(_ response: HTTPResponse) -> [UInt8] {
    switch response.body {
    case .none: return []
    case .bytes(let bytes): return bytes
    case .file(let region):
        var out = [UInt8](repeating: 0, count: region.length)
        let n = out.withUnsafeMutableBytes { pread(region.file.fd, $0.baseAddress, region.length, off_t(region.offset)) }
        return Array(out.prefix(max(n, 0)))
    }
}
