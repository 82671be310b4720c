import HeraldWire
import Testing
@testable import HeraldServer

@Suite struct StaticFileConditionalTests {
    /// A directory with `app.js` (2200 bytes, mtime 2024-01-02 03:04:05.5 UTC) and its server;
    /// the caller removes the directory.
    static func fixture() throws -> (TempPublicDir, StaticFileServer, etag: String) {
        let dir = try TempPublicDir()
        try dir.write("app.js", String(repeating: "let x = 1;\n", count: 200))
        try dir.setModificationTime("app.js", seconds: mtime, nanoseconds: 500_000_000)
        let server = try dir.server()
        let etag = try #require(server.respond(to: staticRequest("/app.js")).headers["ETag"])
        return (dir, server, etag)
    }

    static let mtime = 1_704_164_645  // Tue, 02 Jan 2024 03:04:05 GMT
    static let lastModified = "Tue, 02 Jan 2024 03:04:05 GMT"

    @Test func lastModifiedIsTheMtimeInSeconds() throws {
        let (dir, server, _) = try Self.fixture()
        defer { dir.remove() }
        #expect(server.respond(to: staticRequest("/app.js")).headers["Last-Modified"] == Self.lastModified)
    }

    @Test func matchingIfNoneMatchIsNotModified() throws {
        let (dir, server, etag) = try Self.fixture()
        defer { dir.remove() }
        for method in ["GET", "HEAD"] {
            let response = server.respond(to: staticRequest("/app.js", ["If-None-Match": etag], method: method))
            #expect(response.status == 304)
            #expect(response.headers["ETag"] == etag)
            #expect(response.headers["Last-Modified"] == Self.lastModified)
            #expect(response.headers["Cache-Control"] == "no-cache")
            #expect(response.headers["Vary"] == "Accept-Encoding")
            #expect(response.headers["Content-Type"] == nil)
            #expect(response.body.count == 0)
        }
    }

    @Test func ifNoneMatchListWildcardAndWeakMatch() throws {
        let (dir, server, etag) = try Self.fixture()
        defer { dir.remove() }
        let matching = [
            "\"other\", \(etag)", "\"a\",\(etag),\"b\"", "*", "W/\(etag)", "\"x\", W/\(etag)", "  \(etag)  ",
        ]
        for value in matching {
            #expect(server.respond(to: staticRequest("/app.js", ["If-None-Match": value])).status == 304, "\(value)")
        }
        var twoFields = HTTPHeaders()
        twoFields.add(name: "If-None-Match", value: "\"nope\"")
        twoFields.add(name: "if-none-match", value: etag)
        #expect(server.respond(to: staticRequest("/app.js", twoFields)).status == 304)
    }

    @Test func mismatchedOrMalformedIfNoneMatchIsA200() throws {
        let (dir, server, etag) = try Self.fixture()
        defer { dir.remove() }
        let unquoted = String(etag.dropFirst().dropLast())
        for value in ["\"nope\"", "W/\"nope\"", unquoted, "\(etag)x", "\"unterminated", ""] {
            let response = server.respond(to: staticRequest("/app.js", ["If-None-Match": value]))
            #expect(response.status == 200, "\(value)")
            #expect(response.body.count == 2200)
        }
    }

    @Test func ifNoneMatchOverridesIfModifiedSince() throws {
        let (dir, server, _) = try Self.fixture()
        defer { dir.remove() }
        let headers: HTTPHeaders = ["If-None-Match": "\"nope\"", "If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"]
        #expect(server.respond(to: staticRequest("/app.js", headers)).status == 200)
    }

    @Test func ifModifiedSinceAtOrAfterTheMtimeIsNotModified() throws {
        let (dir, server, etag) = try Self.fixture()
        defer { dir.remove() }
        for date in [Self.lastModified, "Tue, 02 Jan 2024 03:04:06 GMT", "Fri, 01 Jan 2100 00:00:00 GMT"] {
            let response = server.respond(to: staticRequest("/app.js", ["If-Modified-Since": date]))
            #expect(response.status == 304, "\(date)")
            #expect(response.headers["ETag"] == etag)
        }
    }

    @Test func ifModifiedSinceBeforeTheMtimeOrInvalidIsA200() throws {
        let (dir, server, _) = try Self.fixture()
        defer { dir.remove() }
        for date in ["Tue, 02 Jan 2024 03:04:04 GMT", "yesterday", "Tuesday, 02-Jan-24 03:04:05 GMT"] {
            #expect(server.respond(to: staticRequest("/app.js", ["If-Modified-Since": date])).status == 200, "\(date)")
        }
        var twice = HTTPHeaders()
        twice.add(name: "If-Modified-Since", value: Self.lastModified)
        twice.add(name: "If-Modified-Since", value: Self.lastModified)
        #expect(server.respond(to: staticRequest("/app.js", twice)).status == 200)  // RFC 9110 §13.1.3
    }

    @Test func etagChangesWhenTheFileChanges() throws {
        let (dir, server, etag) = try Self.fixture()
        defer { dir.remove() }
        try dir.setModificationTime("app.js", seconds: Self.mtime, nanoseconds: 600_000_000)  // same second
        let changed = server.respond(to: staticRequest("/app.js", ["If-None-Match": etag]))
        #expect(changed.status == 200)
        #expect(changed.headers["ETag"] != etag)
    }

    @Test func gzipVariantHasItsOwnTagAndMatchesIt() throws {
        let (dir, server, identityTag) = try Self.fixture()
        defer { dir.remove() }
        let gzip: HTTPHeaders = ["Accept-Encoding": "gzip"]
        let gzipTag = try #require(server.respond(to: staticRequest("/app.js", gzip)).headers["ETag"])
        #expect(gzipTag == String(identityTag.dropLast()) + "-gz\"")

        var withTag = gzip
        withTag.add(name: "If-None-Match", value: gzipTag)
        let notModified = server.respond(to: staticRequest("/app.js", withTag))
        #expect(notModified.status == 304)
        #expect(notModified.headers["ETag"] == gzipTag)

        // Each variant's tag validates that variant only.
        var identityWithGzip = gzip
        identityWithGzip.add(name: "If-None-Match", value: identityTag)
        #expect(server.respond(to: staticRequest("/app.js", identityWithGzip)).status == 200)
        #expect(server.respond(to: staticRequest("/app.js", ["If-None-Match": gzipTag])).status == 200)
        #expect(server.respond(to: staticRequest("/app.js", ["If-None-Match": identityTag])).status == 304)
        // A cache holding both asks with both: 304 naming the variant it selected.
        var both = gzip
        both.add(name: "If-None-Match", value: "\(identityTag), \(gzipTag)")
        let bothResponse = server.respond(to: staticRequest("/app.js", both))
        #expect(bothResponse.status == 304)
        #expect(bothResponse.headers["ETag"] == gzipTag)
    }

    @Test func entityTagListParsing() throws {
        let parsed = try #require(StaticFileServer.parseEntityTags(["\"a,b\", W/\"c\"", "*"]))
        #expect(parsed.any)
        #expect(parsed.tags == ["\"a,b\"", "\"c\""])
        #expect(StaticFileServer.parseEntityTags(["\"a\" \"b\""])?.tags == ["\"a\"", "\"b\""])
        #expect(StaticFileServer.parseEntityTags(["abc"]) == nil)
        #expect(StaticFileServer.parseEntityTags(["\"a\"b"]) == nil)
        #expect(StaticFileServer.parseEntityTags(["W/abc"]) == nil)
        #expect(StaticFileServer.parseEntityTags(["**"]) == nil)
    }
}
