import HeraldWire

/// A request path checked and split into the segments of a file path under the public root.
/// Pure: the file system checks (realpath containment) come after, in `StaticFileServer`.
///
/// Every way out of the root is refused here, before any system call sees the path: `..`
/// however it is spelled, encoded separators that would change how the path splits, NUL
/// (which would cut the C string short) and backslashes. Dotfiles (`.git`, `.env`) exist but
/// are never served, so they answer 404 like a missing file.
struct StaticFilePath: Equatable, Sendable {
    /// Linux's PATH_MAX: no file under the root can have a longer path.
    static let maxPathBytes = 4096

    /// Decoded, non-empty segments; none is `..` or starts with `.`.
    var segments: [String]
    /// The same segments as sent (still percent-encoded), for a redirect's `Location`.
    var encodedSegments: [Substring]
    /// The request ended in `/`: it asks for a directory.
    var hasTrailingSlash: Bool

    enum Rejection: Error, Equatable {
        case badRequest(String)
        case notFound
        case tooLong
    }

    /// `rawPath` is the request-target's path, still percent-encoded (`HTTPRequestHead.path`).
    static func parse(_ rawPath: String) -> Result<StaticFilePath, Rejection> {
        guard rawPath.utf8.count <= maxPathBytes else { return .failure(.tooLong) }
        guard rawPath.utf8.first == UInt8(ascii: "/") else { return .failure(.badRequest("the path must start with /")) }
        // An encoded `/` or `\` would make the decoded path split differently from the one
        // sent (RFC 3986 §2.2: reserved characters are data when encoded); no file name here
        // needs one, so refuse them rather than guess.
        let text: String
        if rawPath.utf8.contains(UInt8(ascii: "%")) {
            let lowered = rawPath.lowercased()
            guard !lowered.contains("%2f"), !lowered.contains("%5c") else {
                return .failure(.badRequest("encoded slash or backslash in the path"))
            }
            guard let decoded = PercentDecoding.decode(rawPath) else {
                return .failure(.badRequest("malformed percent-encoding in the path"))
            }
            guard !decoded.contains(0) else { return .failure(.badRequest("NUL byte in the path")) }
            guard !decoded.contains(UInt8(ascii: "\\")) else { return .failure(.badRequest("backslash in the path")) }
            guard let valid = String(validating: decoded, as: UTF8.self) else {
                return .failure(.badRequest("the path is not UTF-8"))
            }
            text = valid
        } else {
            // Nothing to decode (the usual path): the same checks on the bytes as sent, without
            // copies; a String is already valid UTF-8.
            guard !rawPath.utf8.contains(0) else { return .failure(.badRequest("NUL byte in the path")) }
            guard !rawPath.utf8.contains(UInt8(ascii: "\\")) else { return .failure(.badRequest("backslash in the path")) }
            text = rawPath
        }
        // Empty segments (`//`) collapse. Without encoded slashes both splits line up one to one.
        let segments: [String]
        let encoded: [Substring]
        if text.utf8.allSatisfy({ $0 < 0x80 }) && rawPath.utf8.allSatisfy({ $0 < 0x80 }) {
            // ASCII (the usual path): split on the bytes, which for ASCII is what splitting by
            // Character gives, at a fraction of the cost (callgrind).
            segments = text.utf8.split(separator: UInt8(ascii: "/")).map { String(Substring($0)) }
            encoded = rawPath.utf8.split(separator: UInt8(ascii: "/")).map { Substring($0) }
        } else {
            segments = text.split(separator: "/").map(String.init)
            encoded = rawPath.split(separator: "/")
        }
        guard segments.count == encoded.count else { return .failure(.badRequest("malformed path")) }
        // Checked after decoding, so `..`, `%2e%2e`, `.%2e` and `%2E.` are all caught.
        if segments.contains("..") { return .failure(.badRequest("'..' in the path")) }
        if segments.contains(where: { $0.hasPrefix(".") }) { return .failure(.notFound) }
        return .success(StaticFilePath(segments: segments, encodedSegments: encoded, hasTrailingSlash: rawPath.hasSuffix("/")))
    }

    /// The file name of a path that is one plain segment, `/small.html`: no `%`, backslash, NUL
    /// or further `/`, not hidden (nor `.`, `..`), within the length limit. For such a path
    /// `parse` succeeds with exactly this one segment and no trailing slash, so a source may
    /// answer it without building the segment arrays; nil for any other path (parse it).
    static func plainFileName(_ rawPath: String) -> String? {
        let utf8 = rawPath.utf8
        guard utf8.count >= 2, utf8.count <= maxPathBytes, utf8.first == UInt8(ascii: "/") else { return nil }
        let name = utf8.dropFirst()
        guard name.first != UInt8(ascii: ".") else { return nil }
        func plain(_ byte: UInt8) -> Bool {
            byte != UInt8(ascii: "/") && byte != UInt8(ascii: "%") && byte != UInt8(ascii: "\\") && byte != 0
        }
        // A native string's bytes are contiguous: scanned as a buffer, a few instructions a byte.
        let allPlain = utf8.withContiguousStorageIfAvailable { $0.dropFirst().allSatisfy(plain) } ?? name.allSatisfy(plain)
        return allPlain ? String(Substring(name)) : nil
    }

    /// The path relative to the root, `a/b/c.js`; empty for the root itself.
    var relativePath: String { segments.joined(separator: "/") }

    /// Where a directory asked for without its trailing slash lives. Built from the segments,
    /// never from the raw path: `//evil.example` must not become a scheme-relative URL.
    func directoryLocation(query: String?) -> String {
        let path = "/" + encodedSegments.map { $0 + "/" }.joined()
        return query.map { path + "?" + $0 } ?? path
    }

    /// Whether the resolved `candidate` (a realpath) is `root` (a realpath) or below it.
    static func isInside(_ candidate: String, root: String) -> Bool {
        if root == "/" { return candidate.hasPrefix("/") }
        return candidate == root || candidate.hasPrefix(root + "/")
    }

    /// Whether a path below `root` passes through a dotfile or dot-directory, e.g. when a
    /// symlink inside the root points at `.git/config`.
    static func hasHiddenComponent(_ candidate: String, root: String) -> Bool {
        candidate.dropFirst(root.count).split(separator: "/").contains { $0.hasPrefix(".") }
    }
}
