import HeraldWire

/// Where the static files come from: a directory on disk (`--public DIR`,
/// `DirectoryFileSource`) or the dashboard compiled into the binary (`EmbeddedFileSource`).
/// `StaticFileServer` does what is the same for both — the method, the path checks, the
/// validators, 304, the headers — and asks a source only for the representation at a path.
protocol StaticFileSource: Sendable {
    /// The representation of the file at `path` (a directory's `index.html`), gzip-encoded when
    /// `acceptsGzip`, its type is compressible and compressing pays off; or the answer instead of
    /// one: 404, a 301 to a directory's trailing slash, 403, 500.
    func lookup(_ path: StaticFilePath, query: String?, acceptsGzip: Bool) -> StaticFileLookup

    /// The answers built earlier for the regular file `name` directly in the root (one path
    /// segment, as `StaticFilePath.plainFileName` gives it), when the source has them and the
    /// file is still that version; nil: ask `lookup`, which decides as always.
    func cachedResponse(forName name: String, acceptsGzip: Bool) -> StaticCachedResponse?
}

extension StaticFileSource {
    func cachedResponse(forName name: String, acceptsGzip: Bool) -> StaticCachedResponse? { nil }
}

enum StaticFileLookup {
    case found(StaticRepresentation)
    /// The representation's answers built earlier (and, for a file, revalidated just now).
    case cached(StaticCachedResponse)
    case response(HTTPResponse)
}

/// One representation of one file: what the headers say about it, and its bytes on demand.
struct StaticRepresentation {
    var contentType: String
    /// The type has a gzip variant for some clients, so the answer depends on Accept-Encoding.
    var isCompressible: Bool
    /// The body below is the gzip variant (`Content-Encoding: gzip`).
    var isGzipped: Bool
    /// A strong entity-tag, quotes included; the gzip variant has its own.
    var entityTag: String
    var lastModifiedSeconds: Int
    /// `HTTPDate.format(secondsSince1970: lastModifiedSeconds)` when the source has it at hand
    /// (cached per version); nil: the server formats it.
    var lastModifiedText: String? = nil
    /// The body, only fetched when a 200 needs it (a 304 never does); nil when it cannot be read.
    var body: () -> HTTPResponseBody?
}
