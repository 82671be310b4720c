import HeraldWire

/// Serves the static files — the dashboard and /herald.js — from a `StaticFileSource`: the
/// files embedded in the binary, or a `--public` directory. GET and HEAD only, validators,
/// revalidation (`no-cache` + 304) and gzip compressed once; the same headers whichever the
/// source. Pure request → response (the directory source reads files); the server writes the
/// response and, for a `.file` body, sends it with sendfile(2). Shared by all loop threads.
public final class StaticFileServer: Sendable {
    /// Up to this size a file is read into memory (and cached): one copy is cheaper than
    /// sendfile's extra syscalls for the dashboard's small files, and the cache stays small.
    static let maxInMemoryFileBytes = 64 * 1024
    /// Below this, gzip's 18 bytes of framing and the CPU spent save next to nothing.
    static let minGzipBytes = 256
    /// Compressing holds the whole file in memory once; bigger files go out uncompressed with
    /// sendfile instead (the dashboard has nothing near this size).
    static let maxGzipBytes = 8 * 1024 * 1024
    /// All cached bytes together (small files and gzip output): the dashboard needs well under
    /// 1 MiB, so this only bounds what a large `--public` directory can make the process hold.
    static let maxCacheBytes = 64 * 1024 * 1024
    /// The dashboard has no build step, so its file names carry no content hash: browsers must
    /// revalidate every time (RFC 9111 §5.2.2.4), which the ETag makes a cheap 304.
    static let cacheControl = "no-cache"

    let source: any StaticFileSource

    init(source: any StaticFileSource) { self.source = source }

    /// Serves the directory `root` (`--public`); throws when it cannot be listed and entered.
    public convenience init(root: String) throws(StaticFileServerError) {
        self.init(source: try DirectoryFileSource(root: root))
    }

    /// Serves the files compiled into the binary.
    public convenience init(embedded files: [EmbeddedFile]) {
        self.init(source: EmbeddedFileSource(files: files))
    }

    public func respond(to head: HTTPRequestHead) -> HTTPResponse {
        guard head.method == "GET" || head.method == "HEAD" else {
            var response = Self.failure(405, "method_not_allowed", "static files answer only GET and HEAD")
            response.headers.add(name: "Allow", value: "GET, HEAD")  // RFC 9110 §15.5.6: required on 405
            return response
        }
        let acceptsGzip = Self.acceptsGzip(head.headers)
        // A file directly under the root whose answers are built already: the name is what
        // `StaticFilePath.parse` would give as the one segment, without building the arrays.
        if let name = StaticFilePath.plainFileName(head.path),
           let cached = source.cachedResponse(forName: name, acceptsGzip: acceptsGzip) {
            return cached.response(to: head.headers)
        }
        let path: StaticFilePath
        switch StaticFilePath.parse(head.path) {
        case .success(let parsed): path = parsed
        case .failure(.tooLong):
            return Self.failure(414, "uri_too_long", "the path is longer than \(StaticFilePath.maxPathBytes) bytes")
        case .failure(.badRequest(let why)): return Self.failure(400, "bad_request", why)
        case .failure(.notFound): return Self.notFound
        }
        switch source.lookup(path, query: head.query, acceptsGzip: acceptsGzip) {
        case .found(let representation): return Self.response(representation, request: head.headers)
        case .cached(let cached): return cached.response(to: head.headers)
        case .response(let response): return response
        }
    }

    /// The 200 or 304 for a representation found.
    static func response(_ file: StaticRepresentation, request: HTTPHeaders) -> HTTPResponse {
        if isNotModified(request, entityTag: file.entityTag, mtimeSeconds: file.lastModifiedSeconds) {
            return notModifiedResponse(file)
        }
        guard let body = file.body() else { return readFailure }
        return okResponse(file, body: body)
    }

    /// RFC 9110 §15.4.5: a 304 carries the validators and the caching fields of the 200.
    static func notModifiedResponse(_ file: StaticRepresentation) -> HTTPResponse {
        HTTPResponse(status: 304, headers: validatorHeaders(file))
    }

    /// The 200 with `body`: the 304's fields, then the content's.
    static func okResponse(_ file: StaticRepresentation, body: HTTPResponseBody) -> HTTPResponse {
        var headers = validatorHeaders(file)
        headers.add(name: "Content-Type", value: file.contentType)
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        if file.isGzipped { headers.add(name: "Content-Encoding", value: "gzip") }
        return HTTPResponse(status: 200, headers: headers, body: body)
    }

    private static func validatorHeaders(_ file: StaticRepresentation) -> HTTPHeaders {
        var headers: HTTPHeaders = [:]
        headers.reserveCapacity(8)
        headers.add(name: "ETag", value: file.entityTag)
        headers.add(name: "Last-Modified", value: file.lastModifiedText ?? HTTPDate.format(secondsSince1970: file.lastModifiedSeconds))
        headers.add(name: "Cache-Control", value: cacheControl)
        if file.isCompressible { headers.add(name: "Vary", value: "Accept-Encoding") }  // RFC 9110 §12.5.5
        // Module scripts are fetched with CORS: pages of any origin may import /herald.js (and
        // the modules it imports). No credentials, so `*` (the API's CORS is --allow-origin's).
        if isJavaScript(file.contentType) { headers.add(name: "Access-Control-Allow-Origin", value: "*") }
        return headers
    }

    /// Whether a file of this type and size is worth sending gzipped (when the client takes it).
    static func gzipPaysOff(contentType: String, size: Int) -> Bool {
        MIMETypes.isCompressible(contentType) && (minGzipBytes...maxGzipBytes).contains(size)
    }

    static func isJavaScript(_ contentType: String) -> Bool {
        MIMETypes.knownTypes[contentType]?.javaScript ?? (MIMETypes.mediaType(of: contentType) == "text/javascript")
    }

    // MARK: - Responses

    static var notFound: HTTPResponse { failure(404, "not_found", "no such file") }
    static var readFailure: HTTPResponse { failure(500, "internal_error", "cannot read the file") }

    static func failure(_ status: Int, _ code: String, _ message: String) -> HTTPResponse {
        var response = HTTPResponse.error(status: status, code: code, message: message)
        response.headers.add(name: "X-Content-Type-Options", value: "nosniff")
        return response
    }

    /// Relative links in a page resolve against its URL, so a directory asked for without its
    /// trailing slash (`/docs`) is sent to `/docs/`.
    static func redirectToDirectory(_ path: StaticFilePath, query: String?) -> HTTPResponse {
        HTTPResponse(status: 301, headers: ["Location": path.directoryLocation(query: query)])
    }
}

// MARK: - Validators and negotiation (pure)

extension StaticFileServer {
    /// RFC 9110 §13.2.2 for GET/HEAD: If-None-Match decides when present (weak comparison,
    /// `*` matches any current representation); only without it does If-Modified-Since count.
    static func isNotModified(_ request: HTTPHeaders, entityTag: String, mtimeSeconds: Int) -> Bool {
        let noneMatch = request.values(name: "If-None-Match")
        if !noneMatch.isEmpty {
            guard let list = parseEntityTags(noneMatch) else { return false }  // malformed: unconditional
            return list.any || list.tags.contains(entityTag)  // our tags are strong: no W/ to strip
        }
        // RFC 9110 §13.1.3: ignore an invalid date or a field with more than one member.
        let modifiedSince = request.values(name: "If-Modified-Since")
        guard modifiedSince.count == 1, let since = HTTPDate.parse(modifiedSince[0].trimmingHTTPWhitespace()) else {
            return false
        }
        return mtimeSeconds <= since  // Last-Modified has second precision
    }

    /// The If-None-Match list: `*`, or entity-tags (RFC 9110 §13.1.2) with `W/` removed and
    /// quotes kept. Parsed by hand since a tag may itself contain commas. nil when malformed.
    static func parseEntityTags(_ fieldValues: [String]) -> (any: Bool, tags: [String])? {
        let bytes = Array(fieldValues.joined(separator: ",").utf8)
        let quote = UInt8(ascii: "\""), separators: Set<UInt8> = [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: ",")]
        var any = false
        var tags: [String] = []
        var i = 0
        while i < bytes.count {
            if separators.contains(bytes[i]) {
                i += 1
                continue
            }
            if bytes[i] == UInt8(ascii: "*") {
                any = true
                i += 1
            } else {
                if bytes[i] == UInt8(ascii: "W"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "/") { i += 2 }
                guard i < bytes.count, bytes[i] == quote, let close = bytes[(i + 1)...].firstIndex(of: quote) else { return nil }
                tags.append(String(decoding: bytes[i...close], as: UTF8.self))
                i = close + 1
            }
            guard i == bytes.count || separators.contains(bytes[i]) else { return nil }
        }
        return (any, tags)
    }

    /// Whether `Accept-Encoding` (RFC 9110 §12.5.3) allows gzip: an explicit `gzip` (or its
    /// alias `x-gzip`) with q > 0, else `*` with q > 0. No header: identity only, as browsers
    /// always send one and other clients may not handle gzip.
    static func acceptsGzip(_ request: HTTPHeaders) -> Bool {
        let values = request.values(name: "Accept-Encoding")
        if values.isEmpty { return false }
        // What browsers send (`gzip, deflate, br, zstd`): one field, no parameters, no `*`.
        if values.count == 1, let plain = plainCodingsIncludeGzip(values[0]) { return plain }
        return acceptsGzip(fieldValues: values)
    }

    /// For a field value of ASCII codings without parameters or `*`, whether one of them is
    /// `gzip` or `x-gzip` (any case) — then all have q=1, so that is `acceptsGzip`'s answer —
    /// read in one pass without splitting into Strings; nil for any other value.
    static func plainCodingsIncludeGzip(_ value: String) -> Bool? {
        var found = false
        var packed: UInt64 = 0  // the coding's lowercased bytes (the last 8), one per byte
        var length = 0
        var pendingWhitespace = false
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: ";"), UInt8(ascii: "*"), 0x80...: return nil
            case UInt8(ascii: ","):
                if (length == 4 && packed == gzipPacked) || (length == 6 && packed == xGzipPacked) { found = true }
                (packed, length, pendingWhitespace) = (0, 0, false)
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                pendingWhitespace = length > 0  // trailing unless a coding byte follows
            default:
                if pendingWhitespace { length += 100 }  // whitespace inside: no coding we look for
                pendingWhitespace = false
                length += 1
                packed = packed << 8 | UInt64(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte)
            }
        }
        return found || (length == 4 && packed == gzipPacked) || (length == 6 && packed == xGzipPacked)
    }

    private static let gzipPacked = "gzip".utf8.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    private static let xGzipPacked = "x-gzip".utf8.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }

    /// `acceptsGzip` for any field values: each element parsed with its parameters.
    static func acceptsGzip(fieldValues: [String]) -> Bool {
        var gzip: Int?
        var wildcard: Int?
        for element in fieldValues.flatMap({ $0.split(separator: ",") }) {
            let parts = element.split(separator: ";")
            guard let coding = parts.first?.trimmingHTTPWhitespace().lowercased(), !coding.isEmpty else { continue }
            var weight: Int? = 1000
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                if pair.count == 2, pair[0].trimmingHTTPWhitespace().lowercased() == "q" {
                    weight = qvalue(pair[1].trimmingHTTPWhitespace())
                }
            }
            guard let weight else { continue }  // an invalid q: ignore that element
            switch coding {
            case "gzip", "x-gzip": gzip = max(gzip ?? 0, weight)
            case "*": wildcard = max(wildcard ?? 0, weight)
            default: break
            }
        }
        return (gzip ?? wildcard ?? 0) > 0
    }

    /// A qvalue (RFC 9110 §12.4.2: `0[.ddd]` or `1[.000]`) in thousandths; nil when invalid.
    static func qvalue(_ text: String) -> Int? {
        let b = Array(text.utf8)
        guard let first = b.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
        var value = Int(first - UInt8(ascii: "0")) * 1000
        guard b.count > 1 else { return value }
        guard b[1] == UInt8(ascii: "."), b.count <= 5 else { return nil }
        var scale = 100
        for c in b[2...] {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) else { return nil }
            value += Int(c - UInt8(ascii: "0")) * scale
            scale /= 10
        }
        return value <= 1000 ? value : nil
    }
}
