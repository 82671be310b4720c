import HeraldWire

/// The two answers one representation (one file version, one encoding) can give, built once:
/// the 200 with its headers and body, and the 304 (RFC 9110 §15.4.5: the validators and the
/// caching fields of the 200). Both are the very responses `StaticFileServer.response` builds
/// for that representation, so a request answered from here sends the same bytes; it only
/// skips building them (the headers and body are shared, copy-on-write, never copied).
struct StaticCachedResponse: Sendable {
    let ok: HTTPResponse
    let notModified: HTTPResponse
    /// What the request's conditionals are compared with (`StaticFileServer.isNotModified`).
    let entityTag: String
    let lastModifiedSeconds: Int

    /// `representation`'s answers with `body` (its bytes, already read).
    init(_ representation: StaticRepresentation, body: HTTPResponseBody) {
        ok = StaticFileServer.okResponse(representation, body: body)
        notModified = StaticFileServer.notModifiedResponse(representation)
        entityTag = representation.entityTag
        lastModifiedSeconds = representation.lastModifiedSeconds
    }

    /// The answer to a request with these headers: 304 when its conditionals match.
    func response(to request: HTTPHeaders) -> HTTPResponse {
        StaticFileServer.isNotModified(request, entityTag: entityTag, mtimeSeconds: lastModifiedSeconds) ? notModified : ok
    }
}

/// The cached answers for one file version of a `--public` directory, for clients that take
/// gzip and for those that do not (for a type or size gzip does not pay off on, or a file it
/// does not shrink, both are the identity response). Immutable: a new variant makes a new one.
final class StaticCachedFile: Sendable {
    /// The file as stat(2) saw it when these were built, ctime included: a request may use
    /// them only while a fresh stat of the same name gives exactly this.
    let version: StaticFileVersion
    let forPlainClients: StaticCachedResponse?
    let forGzipClients: StaticCachedResponse?

    init(version: StaticFileVersion, forPlainClients: StaticCachedResponse?, forGzipClients: StaticCachedResponse?) {
        self.version = version
        self.forPlainClients = forPlainClients
        self.forGzipClients = forGzipClients
    }

    func response(acceptsGzip: Bool) -> StaticCachedResponse? { acceptsGzip ? forGzipClients : forPlainClients }

    /// This file with `response` as the variant for `acceptsGzip` clients; the other variant
    /// is kept when `self` is of the same version.
    func adding(_ response: StaticCachedResponse, acceptsGzip: Bool, version: StaticFileVersion) -> StaticCachedFile {
        let same = self.version == version
        return StaticCachedFile(
            version: version,
            forPlainClients: acceptsGzip ? (same ? forPlainClients : nil) : response,
            forGzipClients: acceptsGzip ? response : (same ? forGzipClients : nil))
    }
}
