import Glibc
import HeraldWire
import Testing
@testable import HeraldServer

/// No request may read outside the public root, whatever its spelling or the symlinks there.
@Suite struct StaticFileTraversalTests {
    @Test(arguments: [
        "/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2fetc%2fpasswd", "/a/%2E%2E/%2E%2E/x",
        "/%00", "/a%5c..%5c..", "/a\\..\\..\\etc\\passwd", "/.%2e/.%2e/etc/passwd", "/%2e%2e", "/a/../../secret.txt",
        "/%2e%2e/secret.txt", "/%zz",
    ])
    func traversalIsABadRequest(target: String) throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("a/x", "inside")
        let response = try dir.server().respond(to: staticRequest(target))
        #expect(response.status == 400)
        #expect(response.headers["Content-Type"] == "application/json")
        #expect(String(decoding: staticBody(response), as: UTF8.self).hasPrefix("{\"error\":{\"code\":\"bad_request\""))
    }

    @Test func symlinkToEtcPasswdIsNotFound() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.symlink("passwd", to: "/etc/passwd")
        try dir.symlink("passwd.txt", to: "/etc/passwd")
        let server = try dir.server()
        for target in ["/passwd", "/passwd.txt"] {
            let response = server.respond(to: staticRequest(target))
            #expect(response.status == 404)
            #expect(!String(decoding: staticBody(response), as: UTF8.self).contains("root:"))
        }
    }

    @Test func symlinkedDirectoryOutsideTheRootIsNotFound() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.writeOutside("secret/secret.txt", "top secret")
        try dir.writeOutside("secret/index.html", "secret index")
        try dir.symlink("out", to: dir.outside + "/secret")
        try dir.symlink("etc", to: "/etc")
        let server = try dir.server()
        for target in ["/out/secret.txt", "/out/", "/out", "/etc/passwd", "/etc/"] {
            let response = server.respond(to: staticRequest(target))
            #expect(response.status == 404, "\(target)")
            #expect(!String(decoding: staticBody(response), as: UTF8.self).contains("secret"))
        }
    }

    @Test func relativeSymlinkClimbingOutIsNotFound() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.writeOutside("secret.txt", "top secret")
        try dir.symlink("up.txt", to: "../secret.txt")
        #expect(try dir.server().respond(to: staticRequest("/up.txt")).status == 404)
    }

    @Test func symlinksInsideTheRootAreServed() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write("real/app.css", "body{}")
        try dir.symlink("alias.css", to: "real/app.css")
        try dir.symlink("linked", to: dir.root + "/real")
        let server = try dir.server()
        #expect(staticBody(server.respond(to: staticRequest("/alias.css"))) == Array("body{}".utf8))
        let viaDirectory = server.respond(to: staticRequest("/linked/app.css"))
        #expect(viaDirectory.status == 200)
        #expect(viaDirectory.headers["Content-Type"] == "text/css; charset=utf-8")
    }

    @Test func symlinkToADotfileInsideTheRootIsNotFound() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write(".git/config", "[core]")
        try dir.symlink("config.txt", to: ".git/config")
        #expect(try dir.server().respond(to: staticRequest("/config.txt")).status == 404)
    }

    @Test(arguments: ["/.env", "/.git/config", "/.git/", "/sub/.hidden", "/.", "/%2eenv"])
    func dotfilesAreNotFound(target: String) throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.write(".env", "SECRET=1")
        try dir.write(".git/config", "[core]")
        try dir.write("sub/.hidden", "hidden")
        let response = try dir.server().respond(to: staticRequest(target))
        #expect(response.status == 404)
        #expect(String(decoding: staticBody(response), as: UTF8.self) == "{\"error\":{\"code\":\"not_found\",\"message\":\"no such file\"}}")
    }

    @Test func rootInsideADotDirectoryStillServes() throws {
        let dir = try TempPublicDir(rootName: ".public")
        defer { dir.remove() }
        try dir.write("a.txt", "ok")
        #expect(try dir.server().respond(to: staticRequest("/a.txt")).status == 200)
    }

    @Test func indexSymlinkedOutsideIsNotFound() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        try dir.writeOutside("secret.html", "secret")
        try dir.symlink("index.html", to: dir.outside + "/secret.html")
        #expect(try dir.server().respond(to: staticRequest("/")).status == 404)
    }

    @Test func fifosAndDevicesAreNotFound() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        #expect(mkfifo(dir.root + "/pipe.txt", 0o644) == 0)
        try dir.symlink("zero.txt", to: "/dev/zero")
        let server = try dir.server()
        #expect(server.respond(to: staticRequest("/pipe.txt")).status == 404)  // and did not block
        #expect(server.respond(to: staticRequest("/zero.txt")).status == 404)
    }

    @Test func pathAtTheLimitIsNotTooLong() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let target = "/" + String(repeating: "a", count: StaticFilePath.maxPathBytes - 1)
        #expect(try dir.server().respond(to: staticRequest(target)).status == 404)
    }

    @Test func pathOnePastTheLimitIsURITooLong() throws {
        let dir = try TempPublicDir()
        defer { dir.remove() }
        let target = "/" + String(repeating: "a", count: StaticFilePath.maxPathBytes)
        let response = try dir.server().respond(to: staticRequest(target))
        #expect(response.status == 414)
        #expect(String(decoding: staticBody(response), as: UTF8.self).contains("\"code\":\"uri_too_long\""))
    }
}
