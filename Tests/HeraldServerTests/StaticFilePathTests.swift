import Testing
@testable import HeraldServer

@Suite struct StaticFilePathTests {
    @Test func plainPathSplitsIntoSegments() throws {
        let path = try StaticFilePath.parse("/css/site.css").get()
        #expect(path.segments == ["css", "site.css"])
        #expect(path.relativePath == "css/site.css")
        #expect(!path.hasTrailingSlash)
    }

    @Test func rootHasNoSegmentsAndATrailingSlash() throws {
        let path = try StaticFilePath.parse("/").get()
        #expect(path.segments.isEmpty)
        #expect(path.hasTrailingSlash)
    }

    @Test func emptySegmentsCollapse() throws {
        #expect(try StaticFilePath.parse("//a///b//").get().segments == ["a", "b"])
    }

    @Test func segmentsArePercentDecoded() throws {
        let path = try StaticFilePath.parse("/a%20b/%C3%A9t%C3%A9.txt").get()
        #expect(path.segments == ["a b", "été.txt"])
        #expect(path.encodedSegments == ["a%20b", "%C3%A9t%C3%A9.txt"])
    }

    @Test func doubleEncodingIsDecodedOnlyOnce() throws {
        #expect(try StaticFilePath.parse("/%252e%252e/x").get().segments == ["%2e%2e", "x"])
    }

    @Test(arguments: [
        "/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2fetc%2fpasswd", "/a/%2E%2E/%2E%2E/x",
        "/%00", "/a%00.html", "/a%5c..%5c..", "/a%5C..", "/a\\..\\..\\etc\\passwd", "/.%2e/x", "/%2e./x",
        "/a/..", "/a/../b", "/%zz", "/%2", "/a%", "/%2F", "/a%2fb", "relative", "", "*", "http://host/x", "/%ff",
    ])
    func unsafePathsAreBadRequests(raw: String) {
        guard case .failure(.badRequest) = StaticFilePath.parse(raw) else {
            Issue.record("\(raw) was not refused with 400")
            return
        }
    }

    @Test(arguments: ["/.env", "/.git/config", "/a/.hidden", "/.", "/a/./b", "/%2egit/HEAD", "/.well-known/x"])
    func dotSegmentsAreNotFound(raw: String) {
        #expect(StaticFilePath.parse(raw) == .failure(.notFound))
    }

    @Test func pathAtTheLimitIsAccepted() {
        let raw = "/" + String(repeating: "a", count: StaticFilePath.maxPathBytes - 1)
        #expect((try? StaticFilePath.parse(raw).get()) != nil)
    }

    @Test func pathOneBytePastTheLimitIsTooLong() {
        let raw = "/" + String(repeating: "a", count: StaticFilePath.maxPathBytes)
        #expect(StaticFilePath.parse(raw) == .failure(.tooLong))
    }

    @Test func directoryLocationIsBuiltFromSegments() throws {
        #expect(try StaticFilePath.parse("/docs").get().directoryLocation(query: nil) == "/docs/")
        #expect(try StaticFilePath.parse("/a%20b/c").get().directoryLocation(query: "x=1&y") == "/a%20b/c/?x=1&y")
        // Never a scheme-relative `//evil.example/`.
        #expect(try StaticFilePath.parse("//evil.example").get().directoryLocation(query: nil) == "/evil.example/")
    }

    @Test func containmentRequiresAComponentBoundary() {
        #expect(StaticFilePath.isInside("/srv/public", root: "/srv/public"))
        #expect(StaticFilePath.isInside("/srv/public/a/b", root: "/srv/public"))
        #expect(!StaticFilePath.isInside("/srv/public-secret/x", root: "/srv/public"))
        #expect(!StaticFilePath.isInside("/srv", root: "/srv/public"))
        #expect(!StaticFilePath.isInside("/etc/passwd", root: "/srv/public"))
        #expect(StaticFilePath.isInside("/etc/passwd", root: "/"))
    }

    @Test func hiddenComponentsBelowTheRootAreFound() {
        #expect(StaticFilePath.hasHiddenComponent("/srv/public/.git/config", root: "/srv/public"))
        #expect(!StaticFilePath.hasHiddenComponent("/srv/public/a/b.js", root: "/srv/public"))
        // Only below the root: a root inside a dot-directory is fine.
        #expect(!StaticFilePath.hasHiddenComponent("/home/u/.local/public/a.js", root: "/home/u/.local/public"))
    }
}
