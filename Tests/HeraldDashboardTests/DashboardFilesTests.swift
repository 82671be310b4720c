import CHeraldSSL
import Foundation
import HeraldWire
import Testing
@testable import HeraldDashboard
@testable import HeraldServer

/// The files the build embedded, checked against public/ on disk (the test is built from the
/// same checkout, and `swift test` builds first, so they are the same files).
@Suite struct DashboardFilesTests {
    static let publicDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("public")

    /// Regular files below public/, dotfiles and symlinks left out, as the plugin lists them.
    static func filesOnDisk() throws -> [String: [UInt8]] {
        var found: [String: [UInt8]] = [:]
        let root = publicDirectory.resolvingSymlinksInPath().path
        let walker = try #require(FileManager.default.enumerator(atPath: root))
        while let relative = walker.nextObject() as? String {
            let path = root + "/" + relative
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            guard !relative.split(separator: "/").contains(where: { $0.hasPrefix(".") }),
                  attributes[.type] as? FileAttributeType == .typeRegular
            else { continue }
            found[relative] = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        }
        return found
    }

    static func sha256Hex(_ bytes: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        _ = bytes.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &digest, &length, EVP_sha256(), nil) }
        return digest.prefix(Int(length)).map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    @Test func theDashboardIsEmbedded() {
        let paths = Set(DashboardFiles.all.map(\.path))
        for expected in ["index.html", "app.js", "style.css", "favicon.svg", "herald.js", "js/store.js"] {
            #expect(paths.contains(expected), "\(expected) is not embedded")
        }
        #expect(DashboardFiles.all.map(\.path) == DashboardFiles.all.map(\.path).sorted())
    }

    @Test func embeddedBytesAreExactlyPublicOnDisk() throws {
        let disk = try Self.filesOnDisk()
        #expect(Set(DashboardFiles.all.map(\.path)) == Set(disk.keys))
        for file in DashboardFiles.all {
            #expect(file.bytes == disk[file.path], "\(file.path) differs from public/\(file.path)")
        }
    }

    @Test func digestsAndGzipVariantsMatchTheBytes() throws {
        for file in DashboardFiles.all {
            #expect(file.sha256 == Self.sha256Hex(file.bytes), "\(file.path)")
            #expect(file.lastModified > 1_600_000_000, "\(file.path)")
            if let gzipped = file.gzipped {
                #expect(gzipped.count < file.bytes.count, "\(file.path)")
                #expect(GzipCompressor.gunzip(gzipped) == file.bytes, "\(file.path)")
            } else {
                // Only files gzip cannot shrink go without: tiny ones like config.json.
                #expect(GzipCompressor.gzip(file.bytes, level: 9).count >= file.bytes.count, "\(file.path)")
            }
        }
        // The big text files of the dashboard do shrink.
        for path in ["app.js", "style.css", "index.html"] {
            #expect(DashboardFiles.all.first { $0.path == path }?.gzipped != nil, "\(path)")
        }
    }

    @Test func servedAsTheDashboard() throws {
        let files = DashboardFiles.all.map {
            EmbeddedFile(path: $0.path, bytes: $0.bytes, gzipped: $0.gzipped, digest: $0.sha256, lastModifiedSeconds: $0.lastModified)
        }
        let server = StaticFileServer(embedded: files)
        let index = try #require(DashboardFiles.all.first { $0.path == "index.html" })
        let root = server.respond(to: HTTPRequestHead(method: "GET", target: "/"))
        #expect(root.status == 200)
        #expect(root.headers["Content-Type"] == "text/html; charset=utf-8")
        #expect(root.headers["ETag"] == "\"" + index.sha256.prefix(32) + "\"")
        guard case .bytes(let bytes) = root.body else {
            Issue.record("expected bytes")
            return
        }
        #expect(bytes == index.bytes)

        let conn = server.respond(to: HTTPRequestHead(method: "GET", target: "/herald.js", headers: ["Accept-Encoding": "gzip"]))
        #expect(conn.headers["Content-Type"] == "text/javascript; charset=utf-8")
        #expect(conn.headers["Content-Encoding"] == "gzip")
        #expect(conn.headers["Access-Control-Allow-Origin"] == "*")
        let etag = try #require(conn.headers["ETag"])
        let again = server.respond(to: HTTPRequestHead(
            method: "GET", target: "/herald.js", headers: ["Accept-Encoding": "gzip", "If-None-Match": etag]))
        #expect(again.status == 304)
        #expect(server.respond(to: HTTPRequestHead(method: "GET", target: "/js/missing.js")).status == 404)
    }
}
