import HeraldWire

/// One file compiled into the binary (see HeraldDashboard): its bytes and what was worked out
/// at build time, so serving it costs no hashing or compressing at start or per request.
public struct EmbeddedFile: Sendable {
    /// Relative to the public root, with `/` separators: `js/conn.js`.
    public var path: String
    public var bytes: [UInt8]
    /// The gzip variant, when it is smaller; used only for compressible types.
    public var gzipped: [UInt8]?
    /// A digest of `bytes` (hex), the ETag: the same bytes give the same tag in every build.
    public var digest: String
    /// `Last-Modified`, seconds since 1970: the file's mtime when it was embedded.
    public var lastModifiedSeconds: Int

    public init(path: String, bytes: [UInt8], gzipped: [UInt8]?, digest: String, lastModifiedSeconds: Int) {
        self.path = path
        self.bytes = bytes
        self.gzipped = gzipped
        self.digest = digest
        self.lastModifiedSeconds = lastModifiedSeconds
    }
}

/// The files built into the binary, answered like the same files in a directory: `/` and
/// `/dir/` are their `index.html`, `/dir` redirects to `/dir/`, anything else absent is 404.
/// Immutable after init, so the loop threads share it without a lock.
final class EmbeddedFileSource: StaticFileSource {
    /// Digest characters in the ETag: 128 bits of SHA-256 are plenty to tell versions apart.
    static let entityTagDigestLength = 32

    private struct Entry {
        var identity: [UInt8]
        var gzipped: [UInt8]?
        var contentType: String
        var isCompressible: Bool
        var entityTag: String
        var gzipEntityTag: String
        var lastModifiedSeconds: Int
        /// The answers, built once here: for clients that do not take gzip, and for those
        /// that do (the identity answer when gzip does not pay off or there is no variant).
        var forPlainClients: StaticCachedResponse? = nil
        var forGzipClients: StaticCachedResponse? = nil

        func representation(gzipped: Bool) -> StaticRepresentation {
            let body = gzipped ? gzipped_ : identity
            return StaticRepresentation(
                contentType: contentType, isCompressible: isCompressible, isGzipped: gzipped,
                entityTag: gzipped ? gzipEntityTag : entityTag, lastModifiedSeconds: lastModifiedSeconds,
                body: { .bytes(body) })
        }

        private var gzipped_: [UInt8] { gzipped ?? identity }

        /// Both answers, as `StaticFileServer.response` builds them from `representation`.
        mutating func buildResponses() {
            let plain = StaticCachedResponse(representation(gzipped: false), body: .bytes(identity))
            forPlainClients = plain
            if let gzipped, StaticFileServer.gzipPaysOff(contentType: contentType, size: identity.count) {
                forGzipClients = StaticCachedResponse(representation(gzipped: true), body: .bytes(gzipped))
            } else {
                forGzipClients = plain
            }
        }
    }

    private let files: [String: Entry]
    /// Every directory that holds a file, `""` (the root) included: `js`, `a/b`.
    private let directories: Set<String>

    /// Files whose path the request parser could never produce (a dotfile segment, an empty
    /// segment, `..`) are left out: they could not be asked for anyway.
    init(files: [EmbeddedFile]) {
        var entries: [String: Entry] = [:]
        var directories: Set<String> = [""]
        for file in files {
            let segments = file.path.split(separator: "/", omittingEmptySubsequences: false)
            guard !segments.isEmpty, !segments.contains(where: { $0.isEmpty || $0.hasPrefix(".") }) else { continue }
            let contentType = MIMETypes.contentType(forFileName: file.path)
            let tag = String(file.digest.prefix(Self.entityTagDigestLength))
            var entry = Entry(
                identity: file.bytes, gzipped: file.gzipped.flatMap { $0.count < file.bytes.count ? $0 : nil },
                contentType: contentType, isCompressible: MIMETypes.isCompressible(contentType),
                entityTag: "\"" + tag + "\"", gzipEntityTag: "\"" + tag + "-gz\"", lastModifiedSeconds: file.lastModifiedSeconds)
            entry.buildResponses()
            entries[file.path] = entry
            for end in segments.indices.dropFirst() { directories.insert(segments[..<end].joined(separator: "/")) }
        }
        self.files = entries
        self.directories = directories
    }

    /// The embedded paths, sorted (for logs and tests).
    var paths: [String] { files.keys.sorted() }

    func cachedResponse(forName name: String, acceptsGzip: Bool) -> StaticCachedResponse? {
        guard !directories.contains(name), let entry = files[name] else { return nil }
        return acceptsGzip ? entry.forGzipClients : entry.forPlainClients
    }

    func lookup(_ path: StaticFilePath, query: String?, acceptsGzip: Bool) -> StaticFileLookup {
        let relative = path.relativePath
        let entry: Entry
        if directories.contains(relative) {
            guard path.hasTrailingSlash else { return .response(StaticFileServer.redirectToDirectory(path, query: query)) }
            guard let index = files[relative.isEmpty ? "index.html" : relative + "/index.html"] else {
                return .response(StaticFileServer.notFound)
            }
            entry = index
        } else {
            guard let file = files[relative], !path.hasTrailingSlash else { return .response(StaticFileServer.notFound) }
            entry = file
        }
        if let cached = acceptsGzip ? entry.forGzipClients : entry.forPlainClients { return .cached(cached) }
        return .found(Self.representation(entry, acceptsGzip: acceptsGzip))
    }

    /// The representation for a client that does (not) take gzip, as served before the
    /// answers were built once (`buildResponses`); the reference they are tested against.
    private static func representation(_ entry: Entry, acceptsGzip: Bool) -> StaticRepresentation {
        let gzipped = acceptsGzip && StaticFileServer.gzipPaysOff(contentType: entry.contentType, size: entry.identity.count)
            ? entry.gzipped : nil
        return StaticRepresentation(
            contentType: entry.contentType, isCompressible: entry.isCompressible, isGzipped: gzipped != nil,
            entityTag: gzipped != nil ? entry.gzipEntityTag : entry.entityTag, lastModifiedSeconds: entry.lastModifiedSeconds,
            body: { .bytes(gzipped ?? entry.identity) })
    }

    /// The answer without the built responses (each request building its own), for the
    /// equivalence tests.
    func uncachedLookupResponse(_ path: StaticFilePath, acceptsGzip: Bool, request: HTTPHeaders) -> HTTPResponse? {
        guard case .cached = lookup(path, query: nil, acceptsGzip: acceptsGzip) else { return nil }
        let relative = path.relativePath
        guard let entry = files[relative] ?? files[relative.isEmpty ? "index.html" : relative + "/index.html"] else { return nil }
        return StaticFileServer.response(Self.representation(entry, acceptsGzip: acceptsGzip), request: request)
    }
}
