import HeraldWire
import Testing
@testable import HeraldServer

/// The embedded source with fixture files: the same answers as a directory holding them.
@Suite struct EmbeddedFileSourceTests {
    static let css = String(repeating: ".task { display: flex; gap: 4px; }\n", count: 100)
    static let js = String(repeating: "export const x = 1;\n", count: 50)
    static let mtime = 1_704_164_645  // Tue, 02 Jan 2024 03:04:05 GMT

    static func file(_ path: String, _ text: String, digest: String? = nil, gzip: Bool = true) -> EmbeddedFile {
        let bytes = Array(text.utf8)
        return EmbeddedFile(
            path: path, bytes: bytes, gzipped: gzip ? GzipCompressor.gzip(bytes) : nil,
            digest: digest ?? String((path.utf8.map { String($0, radix: 16) }.joined() + String(repeating: "0", count: 64)).prefix(64)),
            lastModifiedSeconds: mtime)
    }

    static let server = StaticFileServer(embedded: [
        file("index.html", "<!doctype html><h1>root</h1>\n", digest: "ab" + String(repeating: "cd", count: 31)),
        file("style.css", css),
        file("app.js", js),
        file("herald.js", js + "// module\n"),
        file("js/conn.js", js + "// conn\n"),
        file("docs/index.html", "<h1>docs</h1>"),
        file("docs/deep/page.html", "<p>deep</p>"),
        file("empty/other.txt", "x"),
        file("small.js", "let a = 1\n"),
        file("logo.png", String(repeating: "P", count: 1000)),  // gzip variant present, type not compressible
        file(".secret", "hidden"),
        file("js/.env", "hidden"),
    ])

    @Test func servesTheBytesWithTypeValidatorsAndNosniff() throws {
        let response = Self.server.respond(to: staticRequest("/style.css"))
        #expect(response.status == 200)
        #expect(response.headers["Content-Type"] == "text/css; charset=utf-8")
        #expect(response.headers["X-Content-Type-Options"] == "nosniff")
        #expect(response.headers["Cache-Control"] == "no-cache")
        #expect(response.headers["Last-Modified"] == "Tue, 02 Jan 2024 03:04:05 GMT")
        #expect(response.headers["Vary"] == "Accept-Encoding")
        #expect(response.headers["Content-Encoding"] == nil)
        #expect(response.headers["Access-Control-Allow-Origin"] == nil)
        #expect(staticBody(response) == Array(Self.css.utf8))
    }

    @Test func entityTagIsTheDigestPrefixAndStable() throws {
        let response = Self.server.respond(to: staticRequest("/index.html"))
        let tag = "\"ab" + String(repeating: "cd", count: 15) + "\""
        #expect(response.headers["ETag"] == tag)
        // The same bytes embedded in another build (another mtime) keep their tag.
        var moved = Self.file("index.html", "<!doctype html><h1>root</h1>\n", digest: "ab" + String(repeating: "cd", count: 31))
        moved.lastModifiedSeconds = 0
        let other = StaticFileServer(embedded: [moved])
        #expect(other.respond(to: staticRequest("/")).headers["ETag"] == tag)
        #expect(Self.server.respond(to: staticRequest("/app.js")).headers["ETag"] != Self.server.respond(to: staticRequest("/herald.js")).headers["ETag"])
    }

    @Test func typesByExtension() {
        let types = [
            "/": "text/html; charset=utf-8", "/app.js": "text/javascript; charset=utf-8",
            "/js/conn.js": "text/javascript; charset=utf-8", "/style.css": "text/css; charset=utf-8",
            "/logo.png": "image/png", "/empty/other.txt": "text/plain; charset=utf-8",
        ]
        for (target, type) in types {
            #expect(Self.server.respond(to: staticRequest(target)).headers["Content-Type"] == type, "\(target)")
        }
    }

    @Test func javascriptIsImportableFromAnyOrigin() {
        for target in ["/herald.js", "/app.js", "/js/conn.js", "/small.js"] {
            let response = Self.server.respond(to: staticRequest(target, ["Origin": "https://app.example"]))
            #expect(response.headers["Access-Control-Allow-Origin"] == "*", "\(target)")
            #expect(response.headers["Access-Control-Allow-Credentials"] == nil)
            let etag = response.headers["ETag"] ?? "missing"
            let notModified = Self.server.respond(to: staticRequest(target, ["If-None-Match": etag]))
            #expect(notModified.status == 304)
            #expect(notModified.headers["Access-Control-Allow-Origin"] == "*")
        }
        for target in ["/", "/style.css", "/logo.png", "/nope.js"] {
            #expect(Self.server.respond(to: staticRequest(target)).headers["Access-Control-Allow-Origin"] == nil, "\(target)")
        }
    }

    @Test func gzipVariantForClientsThatTakeIt() throws {
        let response = Self.server.respond(to: staticRequest("/style.css", ["Accept-Encoding": "gzip, br"]))
        #expect(response.status == 200)
        #expect(response.headers["Content-Encoding"] == "gzip")
        #expect(response.headers["Vary"] == "Accept-Encoding")
        #expect(response.headers["ETag"]?.hasSuffix("-gz\"") == true)
        let body = staticBody(response)
        #expect(body.count < Self.css.utf8.count)
        #expect(try #require(GzipCompressor.gunzip(body)) == Array(Self.css.utf8))
        let identity = Self.server.respond(to: staticRequest("/style.css", ["Accept-Encoding": "gzip;q=0"]))
        #expect(identity.headers["Content-Encoding"] == nil)
        #expect(staticBody(identity) == Array(Self.css.utf8))
        #expect(identity.headers["ETag"] != response.headers["ETag"])
    }

    @Test func noGzipForSmallFilesDenseTypesOrAVariantThatIsNotSmaller() {
        for target in ["/small.js", "/logo.png"] {
            let response = Self.server.respond(to: staticRequest(target, ["Accept-Encoding": "gzip"]))
            #expect(response.status == 200)
            #expect(response.headers["Content-Encoding"] == nil, "\(target)")
        }
        #expect(Self.server.respond(to: staticRequest("/logo.png")).headers["Vary"] == nil)
        let bigger = EmbeddedFile(
            path: "a.css", bytes: Array(Self.css.utf8), gzipped: Array(Self.css.utf8) + [0], digest: "00", lastModifiedSeconds: 0)
        let response = StaticFileServer(embedded: [bigger]).respond(to: staticRequest("/a.css", ["Accept-Encoding": "gzip"]))
        #expect(response.headers["Content-Encoding"] == nil)
        #expect(staticBody(response) == Array(Self.css.utf8))
    }

    @Test func conditionalRequestsOnEitherVariant() throws {
        for encoding in ["gzip", "identity"] {
            let first = Self.server.respond(to: staticRequest("/app.js", ["Accept-Encoding": encoding]))
            let etag = try #require(first.headers["ETag"])
            for method in ["GET", "HEAD"] {
                let response = Self.server.respond(to: staticRequest(
                    "/app.js", ["Accept-Encoding": encoding, "If-None-Match": "\"x\", \(etag)"], method: method))
                #expect(response.status == 304)
                #expect(response.headers["ETag"] == etag)
                #expect(response.headers["Content-Type"] == nil)
                #expect(response.body.count == 0)
            }
        }
        let since = Self.server.respond(to: staticRequest("/app.js", ["If-Modified-Since": "Tue, 02 Jan 2024 03:04:05 GMT"]))
        #expect(since.status == 304)
        let before = Self.server.respond(to: staticRequest("/app.js", ["If-Modified-Since": "Tue, 02 Jan 2024 03:04:04 GMT"]))
        #expect(before.status == 200)
        #expect(Self.server.respond(to: staticRequest("/app.js", ["If-None-Match": "\"other\""])).status == 200)
    }

    @Test func headHasTheSameHeadersAsGet() {
        for encoding in ["gzip", "identity"] {
            let get = Self.server.respond(to: staticRequest("/style.css", ["Accept-Encoding": encoding]))
            let head = Self.server.respond(to: staticRequest("/style.css", ["Accept-Encoding": encoding], method: "HEAD"))
            #expect(head.status == 200)
            #expect(head.headers == get.headers)
            #expect(head.body.count == get.body.count)
        }
    }

    @Test func directoriesAnswerWithTheirIndexOrARedirect() {
        #expect(staticBody(Self.server.respond(to: staticRequest("/"))) == Array("<!doctype html><h1>root</h1>\n".utf8))
        #expect(staticBody(Self.server.respond(to: staticRequest("/?v=2"))) == Array("<!doctype html><h1>root</h1>\n".utf8))
        #expect(staticBody(Self.server.respond(to: staticRequest("/docs/"))) == Array("<h1>docs</h1>".utf8))
        #expect(staticBody(Self.server.respond(to: staticRequest("//docs//deep///page.html"))) == Array("<p>deep</p>".utf8))
        for (target, location) in [("/docs", "/docs/"), ("/docs?tab=2", "/docs/?tab=2"), ("/js", "/js/"), ("/docs/deep", "/docs/deep/")] {
            let response = Self.server.respond(to: staticRequest(target))
            #expect(response.status == 301, "\(target)")
            #expect(response.headers["Location"] == location)
        }
        #expect(Self.server.respond(to: staticRequest("/js/")).status == 404)  // a directory without index.html
        #expect(Self.server.respond(to: staticRequest("/empty/")).status == 404)
        #expect(Self.server.respond(to: staticRequest("/docs/deep/")).status == 404)
    }

    @Test func missingFilesAndFilesAskedForAsDirectoriesAreNotFound() {
        for target in ["/nope.js", "/app.js/", "/js/nope.js", "/index.htm", "/APP.JS", "/docs/index.html/x"] {
            let response = Self.server.respond(to: staticRequest(target))
            #expect(response.status == 404, "\(target)")
            #expect(response.headers["Content-Type"] == "application/json")
            #expect(String(decoding: staticBody(response), as: UTF8.self).contains("\"code\":\"not_found\""))
        }
    }

    @Test func traversalAndHiddenFilesAreRefused() {
        let cases: [(String, Int)] = [
            ("/../index.html", 400), ("/js/../../app.js", 400), ("/%2e%2e/index.html", 400), ("/.%2e/app.js", 400),
            ("/js%2fconn.js", 400), ("/js%5cconn.js", 400), ("/a%00.js", 400), ("/js\\conn.js", 400),
            ("/.secret", 404), ("/js/.env", 404), ("/%2esecret", 404),
        ]
        for (target, status) in cases {
            #expect(Self.server.respond(to: staticRequest(target)).status == status, "\(target)")
        }
        // Never embedded: even a source asked directly does not have them.
        #expect(!(Self.server.source as! EmbeddedFileSource).paths.contains { $0.contains(".secret") || $0.contains(".env") })
    }

    @Test(arguments: ["POST", "PUT", "DELETE", "OPTIONS"])
    func otherMethodsAreNotAllowed(method: String) {
        let response = Self.server.respond(to: HTTPRequestHead(method: method, target: "/app.js"))
        #expect(response.status == 405)
        #expect(response.headers["Allow"] == "GET, HEAD")
    }

    @Test func noFilesAtAllIsA404NotACrash() {
        let empty = StaticFileServer(embedded: [])
        #expect(empty.respond(to: staticRequest("/")).status == 404)
        #expect(empty.respond(to: staticRequest("/app.js")).status == 404)
    }

    /// With --allow-origin the API's CORS decorates every response: a static file keeps its own
    /// `Vary: Accept-Encoding` (Origin is added), and JavaScript stays importable from anywhere.
    @Test func allowOriginKeepsTheStaticHeaders() {
        let policy = CrossOriginPolicy(allowedOrigins: ["https://ops.example"])
        for origin in ["https://ops.example", "https://other.example"] {
            let head = staticRequest("/app.js", ["Origin": origin, "Accept-Encoding": "gzip"])
            var response = Self.server.respond(to: head)
            policy.decorate(&response, for: head)
            #expect(response.headers["Vary"] == "Accept-Encoding, Origin")
            #expect(response.headers["Content-Encoding"] == "gzip")
            #expect(response.headers["Access-Control-Allow-Origin"] == (origin == "https://ops.example" ? origin : "*"))
        }
        var api = HTTPResponse(status: 200)
        policy.decorate(&api, for: staticRequest("/api/tasks", ["Origin": "https://other.example"]))
        #expect(api.headers["Vary"] == "Origin")
        #expect(api.headers["Access-Control-Allow-Origin"] == nil)
        policy.decorate(&api, for: staticRequest("/api/tasks", ["Origin": "https://ops.example"]))
        #expect(api.headers["Vary"] == "Origin")  // not twice
    }

    @Test func aDirectoryServesJavaScriptWithTheSameCrossOriginHeader() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("herald.js", Self.js)
        try dir.write("style.css", Self.css)
        let server = try dir.server()
        #expect(server.respond(to: staticRequest("/herald.js", ["Accept-Encoding": "gzip"])).headers["Access-Control-Allow-Origin"] == "*")
        #expect(server.respond(to: staticRequest("/style.css")).headers["Access-Control-Allow-Origin"] == nil)
    }
}
