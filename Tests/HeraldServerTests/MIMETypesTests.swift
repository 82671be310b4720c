import Testing
@testable import HeraldServer

@Suite struct MIMETypesTests {
    @Test(arguments: [
        ("index.html", "text/html; charset=utf-8"),
        ("page.htm", "text/html; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("mod.mjs", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("data.json", "application/json"),
        ("app.js.map", "application/json"),
        ("icon.svg", "image/svg+xml"),
        ("logo.png", "image/png"),
        ("favicon.ico", "image/x-icon"),
        ("font.woff2", "font/woff2"),
        ("readme.txt", "text/plain; charset=utf-8"),
        ("photo.jpg", "image/jpeg"),
        ("photo.jpeg", "image/jpeg"),
        ("anim.gif", "image/gif"),
        ("pic.webp", "image/webp"),
        ("module.wasm", "application/wasm"),
        ("feed.xml", "application/xml"),
        ("site.webmanifest", "application/manifest+json"),
    ])
    func tableMapsExtensionToType(name: String, type: String) {
        #expect(MIMETypes.contentType(forFileName: name) == type)
    }

    @Test func extensionIsCaseInsensitive() {
        #expect(MIMETypes.contentType(forFileName: "INDEX.HTML") == "text/html; charset=utf-8")
        #expect(MIMETypes.contentType(forFileName: "Logo.PnG") == "image/png")
    }

    @Test(arguments: ["Makefile", "archive.tar.zst", "file.", ".env", ".js", "dir.js/plain", "x.exe"])
    func unknownOrMissingExtensionIsOctetStream(name: String) {
        #expect(MIMETypes.contentType(forFileName: name) == "application/octet-stream")
    }

    @Test func pathsUseTheLastComponent() {
        #expect(MIMETypes.contentType(forFileName: "/srv/public/css/site.css") == "text/css; charset=utf-8")
    }

    @Test func textLikeTypesAreCompressible() {
        for name in ["a.html", "a.js", "a.css", "a.json", "a.map", "a.svg", "a.txt", "a.xml", "a.wasm", "a.webmanifest"] {
            #expect(MIMETypes.isCompressible(MIMETypes.contentType(forFileName: name)), "\(name)")
        }
        #expect(MIMETypes.isCompressible("application/javascript"))
        #expect(MIMETypes.isCompressible("Text/Plain ; charset=utf-8"))
    }

    @Test func imagesFontsAndUnknownAreNotCompressible() {
        for name in ["a.png", "a.jpg", "a.gif", "a.webp", "a.ico", "a.woff2", "a.bin"] {
            #expect(!MIMETypes.isCompressible(MIMETypes.contentType(forFileName: name)), "\(name)")
        }
    }
}
