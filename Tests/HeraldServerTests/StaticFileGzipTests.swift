import HeraldWire
import Testing
@testable import HeraldServer

@Suite struct StaticFileGzipTests {
    static let css = String(repeating: ".task { display: flex; gap: 4px; }\n", count: 100)

    @Test func gzipRoundTrips() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("style.css", Self.css)
        let response = try dir.server().respond(to: staticRequest("/style.css", ["Accept-Encoding": "gzip, deflate, br"]))
        #expect(response.status == 200)
        #expect(response.headers["Content-Encoding"] == "gzip")
        #expect(response.headers["Vary"] == "Accept-Encoding")
        #expect(response.headers["Content-Type"] == "text/css; charset=utf-8")
        let body = staticBody(response)
        #expect(body.count < Self.css.utf8.count)
        #expect(try #require(GzipCompressor.gunzip(body)) == Array(Self.css.utf8))
    }

    @Test(arguments: ["gzip", "GZIP", "x-gzip", "*", "br, gzip;q=0.5", "gzip;q=0.001", "deflate, *;q=0.1", "gzip ; q=1.0"])
    func acceptedEncodingsGetGzip(acceptEncoding: String) throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("style.css", Self.css)
        let response = try dir.server().respond(to: staticRequest("/style.css", ["Accept-Encoding": acceptEncoding]))
        #expect(response.headers["Content-Encoding"] == "gzip")
    }

    @Test(arguments: ["gzip;q=0", "gzip; Q=0.000", "br", "identity", "gzip;q=0, *", "*;q=0", "deflate", "gzip;q=2", "gzip;q=0.1234", ""])
    func refusedEncodingsGetIdentityWithVary(acceptEncoding: String) throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("style.css", Self.css)
        let response = try dir.server().respond(to: staticRequest("/style.css", ["Accept-Encoding": acceptEncoding]))
        #expect(response.headers["Content-Encoding"] == nil)
        #expect(response.headers["Vary"] == "Accept-Encoding")
        #expect(staticBody(response) == Array(Self.css.utf8))
    }

    @Test func noAcceptEncodingMeansIdentity() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("style.css", Self.css)
        let response = try dir.server().respond(to: staticRequest("/style.css"))
        #expect(response.headers["Content-Encoding"] == nil)
        #expect(response.headers["Vary"] == "Accept-Encoding")
    }

    @Test func tinyFileBelowTheMinimumIsNotCompressed() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("below.js", String(repeating: "a", count: StaticFileServer.minGzipBytes - 1))
        try dir.write("at.js", String(repeating: "a", count: StaticFileServer.minGzipBytes))
        let server = try dir.server()
        #expect(server.respond(to: staticRequest("/below.js", ["Accept-Encoding": "gzip"])).headers["Content-Encoding"] == nil)
        #expect(server.respond(to: staticRequest("/at.js", ["Accept-Encoding": "gzip"])).headers["Content-Encoding"] == "gzip")
    }

    @Test func pngIsNeverCompressed() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("image.png", Self.css)  // compressible bytes, but the type says no
        let response = try dir.server().respond(to: staticRequest("/image.png", ["Accept-Encoding": "gzip"]))
        #expect(response.headers["Content-Encoding"] == nil)
        #expect(response.headers["Vary"] == nil)
        #expect(response.headers["Content-Type"] == "image/png")
    }

    @Test func incompressibleContentIsSentPlainAndNotRetried() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let noise = GzipCompressorTests.random(5000, seed: 9)
        try dir.write("noise.js", noise)
        let server = try dir.server()
        for _ in 0..<3 {
            let response = server.respond(to: staticRequest("/noise.js", ["Accept-Encoding": "gzip"]))
            #expect(response.headers["Content-Encoding"] == nil)
            #expect(response.headers["Vary"] == "Accept-Encoding")
            #expect(!(response.headers["ETag"] ?? "").contains("-gz"))
            #expect(staticBody(response) == noise)
        }
        #expect(server.directory.cache.usage.gzipStores == 1)
    }

    @Test func compressesOnceAndServesFromTheCache() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("style.css", Self.css)
        let server = try dir.server()
        let first = staticBody(server.respond(to: staticRequest("/style.css", ["Accept-Encoding": "gzip"])))
        let second = staticBody(server.respond(to: staticRequest("/style.css", ["Accept-Encoding": "gzip"])))
        #expect(first == second)
        #expect(server.directory.cache.usage.gzipStores == 1)
    }

    @Test func changedFileIsRecompressed() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let before = String(repeating: "A", count: 1000)
        let after = String(repeating: "B", count: 1000)  // same size: only the mtime tells
        try dir.write("app.js", before)
        try dir.setModificationTime("app.js", seconds: 1_700_000_000)
        let server = try dir.server()
        let first = server.respond(to: staticRequest("/app.js", ["Accept-Encoding": "gzip"]))
        #expect(GzipCompressor.gunzip(staticBody(first)) == Array(before.utf8))

        try dir.write("app.js", after)
        try dir.setModificationTime("app.js", seconds: 1_700_000_001)
        let second = server.respond(to: staticRequest("/app.js", ["Accept-Encoding": "gzip"]))
        #expect(GzipCompressor.gunzip(staticBody(second)) == Array(after.utf8))
        #expect(second.headers["ETag"] != first.headers["ETag"])
        #expect(server.directory.cache.usage.gzipStores == 2)
        #expect(server.directory.cache.usage.files == 1)  // the old version's bytes are gone
        // The plain variant follows too.
        #expect(staticBody(server.respond(to: staticRequest("/app.js"))) == Array(after.utf8))
    }

    @Test func largeCompressibleFileIsGzippedOrSentAsAFileRegion() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let content = Array(String(repeating: "export const x = 1;\n", count: 10_000).utf8)  // 200 KB
        try dir.write("big.js", content)
        let server = try dir.server()
        let gzipped = server.respond(to: staticRequest("/big.js", ["Accept-Encoding": "gzip"]))
        #expect(gzipped.headers["Content-Encoding"] == "gzip")
        #expect(GzipCompressor.gunzip(staticBody(gzipped)) == content)
        let plain = server.respond(to: staticRequest("/big.js"))
        guard case .file(let region) = plain.body else {
            Issue.record("expected a file region")
            return
        }
        #expect(region.length == content.count)
        #expect(server.directory.cache.usage.bytes < content.count)  // only the gzip bytes are held
    }

    @Test func fileAtTheGzipLimitIsCompressedAndOnePastIsNot() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("at.txt", [UInt8](repeating: 0x20, count: StaticFileServer.maxGzipBytes))
        try dir.write("past.txt", [UInt8](repeating: 0x20, count: StaticFileServer.maxGzipBytes + 1))
        let server = try dir.server()
        let at = server.respond(to: staticRequest("/at.txt", ["Accept-Encoding": "gzip"]))
        #expect(at.headers["Content-Encoding"] == "gzip")
        let past = server.respond(to: staticRequest("/past.txt", ["Accept-Encoding": "gzip"]))
        #expect(past.headers["Content-Encoding"] == nil)
        #expect(past.headers["Vary"] == "Accept-Encoding")
        guard case .file(let region) = past.body else {
            Issue.record("expected a file region")
            return
        }
        #expect(region.length == StaticFileServer.maxGzipBytes + 1)
    }

    @Test func qvalueGrammar() {
        #expect(StaticFileServer.qvalue("1") == 1000)
        #expect(StaticFileServer.qvalue("1.000") == 1000)
        #expect(StaticFileServer.qvalue("0") == 0)
        #expect(StaticFileServer.qvalue("0.") == 0)
        #expect(StaticFileServer.qvalue("0.5") == 500)
        #expect(StaticFileServer.qvalue("0.125") == 125)
        #expect(StaticFileServer.qvalue("1.001") == nil)
        #expect(StaticFileServer.qvalue("0.1234") == nil)
        #expect(StaticFileServer.qvalue(".5") == nil)
        #expect(StaticFileServer.qvalue("2") == nil)
        #expect(StaticFileServer.qvalue("") == nil)
    }
}
