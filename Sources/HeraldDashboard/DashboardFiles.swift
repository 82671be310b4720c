#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The files of public/ as they were at build time, compiled into the binary by
/// Plugins/HeraldEmbedPlugin (the generated `DashboardFiles.stored`), so `herald serve` serves
/// the dashboard and /herald.js from any directory. No Herald module here: bytes and facts only;
/// HeraldServer's EmbeddedFileSource turns them into HTTP answers.
public enum DashboardFiles {
    /// One embedded file.
    public struct File: Sendable {
        /// Relative to public/, with `/` separators: `js/conn.js`.
        public let path: String
        public let bytes: [UInt8]
        /// gzip of `bytes` (compressed at build time), when that is smaller.
        public let gzipped: [UInt8]?
        /// SHA-256 of `bytes`, lower-case hex, computed at build time.
        public let sha256: String
        /// The file's mtime at build time, seconds since 1970.
        public let lastModified: Int
    }

    /// Every embedded file, sorted by path; decoded on first use (a few hundred KB copied, and
    /// the base64 of the gzip variants decoded, once).
    public static let all: [File] = stored.map { stored in
        File(
            path: stored.path,
            bytes: stored.text.map { Array($0.utf8) } ?? Base64.decode(stored.base64 ?? "") ?? [],
            gzipped: stored.gzipBase64.flatMap(Base64.decode),
            sha256: stored.sha256, lastModified: stored.lastModified)
    }

    /// How the generated source holds one file: text as a raw string literal, or base64.
    struct Stored {
        var path: String
        var lastModified: Int
        var sha256: String
        var text: String?
        var base64: String?
        var gzipBase64: String?

        init(path: String, lastModified: Int, sha256: String, text: String, gzipBase64: String?) {
            (self.path, self.lastModified, self.sha256, self.text, self.gzipBase64) = (path, lastModified, sha256, text, gzipBase64)
        }

        init(path: String, lastModified: Int, sha256: String, base64: String, gzipBase64: String?) {
            (self.path, self.lastModified, self.sha256, self.base64, self.gzipBase64) = (path, lastModified, sha256, base64, gzipBase64)
        }
    }
}

/// RFC 4648 base64, decoded by Foundation (optimised code even in a debug build: a loop of
/// our own here would take ~10 ms at every debug start); line feeds are skipped.
enum Base64 {
    static func decode(_ text: String) -> [UInt8]? {
        Data(base64Encoded: text, options: .ignoreUnknownCharacters).map { [UInt8]($0) }
    }
}
