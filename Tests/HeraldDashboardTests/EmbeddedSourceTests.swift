import Foundation
import Testing
@testable import HeraldDashboard
@testable import HeraldEmbed

/// The generator's literal rules, and its output compiled back with swiftc.
@Suite struct EmbeddedSourceTests {
    @Test func plainTextIsARawLiteralWithOneHashMoreThanItsLongestRun() {
        #expect(EmbeddedSource.literal(for: Array("let a = 1\n\tb\n".utf8)) == .raw(hashes: 1))
        #expect(EmbeddedSource.literal(for: Array("#x ## y\n".utf8)) == .raw(hashes: 3))
        #expect(EmbeddedSource.literal(for: Array("\"\"\"# \\#(x) ###\"\"\"".utf8)) == .raw(hashes: 4))
        #expect(EmbeddedSource.literal(for: Array("héllo — ✓ 🚀".utf8)) == .raw(hashes: 1))
        #expect(EmbeddedSource.literal(for: []) == .raw(hashes: 1))
    }

    @Test func whatARawLiteralWouldChangeGoesInAsBase64() {
        for bytes: [UInt8] in [
            Array("a\r\nb".utf8), Array("a\rb".utf8), [0x61, 0x00], [0x1B, 0x5B], [0x7F], [0xFF, 0xFE], [0xC3],
            [0x89, 0x50, 0x4E, 0x47],
        ] {
            #expect(EmbeddedSource.literal(for: bytes) == .base64, "\(bytes)")
        }
    }

    @Test func base64MatchesRFC4648AndDecodesBack() throws {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(EmbeddedSource.base64(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
        }
        var generator = SystemRandomNumberGenerator()
        for count in 0..<200 {
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let literal = EmbeddedSource.base64Literal(bytes)
            let body = literal.dropFirst(4).dropLast(4)  // the """ lines
            #expect(try #require(Base64.decode(String(body))) == bytes)
        }
        #expect(Base64.decode("Zm9") == nil)  // cut short
    }

    @Test func quotedPathsEscape() {
        #expect(EmbeddedSource.quoted("js/app.js") == "\"js/app.js\"")
        #expect(EmbeddedSource.quoted("a\"b\\c") == "\"a\\\"b\\\\c\"")
        #expect(EmbeddedSource.quoted("tab\there") == "\"tab\\u{9}here\"")
    }

    /// The real test of the literal rules: render awkward files, compile them with swiftc
    /// together with the module's own DashboardFiles.swift, run that, compare every byte.
    @Test(.timeLimit(.minutes(3))) func renderedSourceCompilesBackToTheSameBytes() throws {
        let awkward: [(String, [UInt8])] = [
            ("quotes.js", Array("const a = \"\"\"; const b = \"\"\"#; // \"#\n".utf8)),
            ("escapes.js", Array("x = \"\\(y) \\#(z) \\##(w) \\n \\u{41}\"\\\n".utf8)),
            ("hashes.txt", Array("###\"\"\"###\n####\n".utf8)),
            ("no-final-newline.css", Array("a { b: c }".utf8)),
            ("blank-lines.txt", Array("\n\n  \n\t\n   indented\n\n".utf8)),
            ("unicode.html", Array("héllo — ✓ 🚀 \u{2028} \u{FEFF}\n".utf8)),
            ("empty.txt", []),
            ("crlf.txt", Array("a\r\nb\r\n".utf8)),
            ("binary.png", [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0xFF, 0x80]),
            ("sub dir/na\"me.js", Array("ok\n".utf8)),
        ]
        let files = awkward.map { path, bytes in
            EmbeddedSource.File(
                path: path, bytes: bytes, lastModified: 1_700_000_000, sha256: "00",
                gzipped: bytes.isEmpty ? nil : bytes.reversed())
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("herald-embed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let module = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/HeraldDashboard/DashboardFiles.swift")
        try FileManager.default.copyItem(at: module, to: work.appendingPathComponent("DashboardFiles.swift"))
        try EmbeddedSource.render(files).write(to: work.appendingPathComponent("Stored.swift"), atomically: true, encoding: .utf8)
        try """
            for file in DashboardFiles.all {
                print(file.path, file.lastModified, file.bytes.map { String($0) }.joined(separator: ","),
                      file.gzipped.map { $0.map { String($0) }.joined(separator: ",") } ?? "none", separator: "|")
            }
            """.write(to: work.appendingPathComponent("main.swift"), atomically: true, encoding: .utf8)

        let compile = try run([Self.swiftc, "-Onone", "-o", work.appendingPathComponent("probe").path,
                               "DashboardFiles.swift", "Stored.swift", "main.swift"], in: work)
        try #require(compile.status == 0, "swiftc failed:\n\(compile.output)" as Comment)
        let probe = try run([work.appendingPathComponent("probe").path], in: work)
        try #require(probe.status == 0, Comment(rawValue: probe.output))
        let expected = files.map { file in
            [file.path, "1700000000", file.bytes.map { String($0) }.joined(separator: ","),
             file.gzipped.map { $0.map { String($0) }.joined(separator: ",") } ?? "none"].joined(separator: "|")
        }
        #expect(probe.output.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init) == expected)
    }

    /// swiftc from PATH (next to the `swift` that runs the tests), else the toolchain in /opt/swift.
    static var swiftc: String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(directory)/swiftc") {
            return "\(directory)/swiftc"
        }
        return "/opt/swift/usr/bin/swiftc"
    }

    private func run(_ arguments: [String], in directory: URL) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
