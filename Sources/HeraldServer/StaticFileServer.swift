import Glibc
import HeraldLoop
import HeraldWire

/// Why the public directory cannot be served; `description` is the CLI's one-line message.
public struct StaticFileServerError: Error, CustomStringConvertible, Sendable, Equatable {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "cannot read --public \(path): \(reason)" }
}

/// Serves the dashboard's files from one directory: GET and HEAD only, never anything outside
/// that directory, with validators, revalidation (`no-cache` + 304) and gzip compressed once.
/// Pure request → response plus file reads; the server writes the response and, for a
/// `.file` body, sends it with sendfile(2). Shared by all loop threads.
public final class StaticFileServer: @unchecked Sendable {
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

    /// The realpath of the public directory.
    public let root: String
    let cache = StaticFileCache(maxBytes: maxCacheBytes)

    /// `root` must be a directory the process can list and enter; its realpath is kept, so
    /// every served file is checked against the real location.
    public init(root: String) throws(StaticFileServerError) {
        guard let real = Self.canonicalPath(root) else {
            throw StaticFileServerError(path: root, reason: Self.errnoText(errno))
        }
        var st = stat()
        guard stat(real, &st) == 0 else { throw StaticFileServerError(path: root, reason: Self.errnoText(errno)) }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw StaticFileServerError(path: root, reason: "not a directory") }
        let fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StaticFileServerError(path: root, reason: Self.errnoText(errno)) }
        close(fd)
        guard access(real, X_OK) == 0 else { throw StaticFileServerError(path: root, reason: Self.errnoText(errno)) }
        self.root = real
    }

    public func respond(to head: HTTPRequestHead) -> HTTPResponse {
        guard head.method == "GET" || head.method == "HEAD" else {
            var response = Self.failure(405, "method_not_allowed", "static files answer only GET and HEAD")
            response.headers.add(name: "Allow", value: "GET, HEAD")  // RFC 9110 §15.5.6: required on 405
            return response
        }
        let path: StaticFilePath
        switch StaticFilePath.parse(head.path) {
        case .success(let parsed): path = parsed
        case .failure(.tooLong):
            return Self.failure(414, "uri_too_long", "the path is longer than \(StaticFilePath.maxPathBytes) bytes")
        case .failure(.badRequest(let why)): return Self.failure(400, "bad_request", why)
        case .failure(.notFound): return Self.notFound
        }
        switch locate(path, query: head.query) {
        case .file(let realPath, let name): return serve(realPath, name: name, request: head.headers)
        case .response(let response): return response
        }
    }

    // MARK: - Finding the file

    private enum Located {
        case file(realPath: String, name: String)
        case response(HTTPResponse)
    }

    private func locate(_ path: StaticFilePath, query: String?) -> Located {
        let (real, st): (String, stat)
        switch resolve(path.segments.isEmpty ? root : root + "/" + path.relativePath) {
        case .found(let r, let s): (real, st) = (r, s)
        case .response(let response): return .response(response)
        }
        if st.st_mode & S_IFMT == S_IFDIR {
            // Relative links in the page resolve against the URL, so `/docs` must become `/docs/`.
            guard path.hasTrailingSlash else {
                return .response(HTTPResponse(status: 301, headers: ["Location": path.directoryLocation(query: query)]))
            }
            switch resolve(real + "/index.html") {  // index.html may itself be a symlink
            case .found(let index, let s) where s.st_mode & S_IFMT == S_IFREG: return .file(realPath: index, name: "index.html")
            case .found: return .response(Self.notFound)
            case .response(let response): return .response(response)
            }
        }
        // A file asked for as a directory (`/app.js/`) does not exist, as on any file system.
        guard st.st_mode & S_IFMT == S_IFREG, !path.hasTrailingSlash, let name = path.segments.last else {
            return .response(Self.notFound)  // devices, fifos, sockets are never served
        }
        return .file(realPath: real, name: name)
    }

    private enum Resolved {
        case found(String, stat)
        case response(HTTPResponse)
    }

    /// Follows every symlink of `candidate` and insists that the result is still inside the
    /// root and not hidden: a link to `/etc/passwd` or to `.git` is as absent as a missing file.
    private func resolve(_ candidate: String) -> Resolved {
        guard let real = Self.canonicalPath(candidate) else {
            switch errno {
            case ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EACCES: return .response(Self.notFound)
            case let e: return .response(Self.failure(500, "internal_error", "cannot resolve the path: \(Self.errnoText(e))"))
            }
        }
        guard StaticFilePath.isInside(real, root: root), !StaticFilePath.hasHiddenComponent(real, root: root) else {
            return .response(Self.notFound)
        }
        var st = stat()
        guard stat(real, &st) == 0 else { return .response(Self.notFound) }  // removed just now
        return .found(real, st)
    }

    // MARK: - Serving it

    private func serve(_ realPath: String, name: String, request: HTTPHeaders) -> HTTPResponse {
        // O_NONBLOCK: should a fifo appear here after the stat, opening it must not block the
        // loop. O_NOFOLLOW: realpath left no symlink, so one now is a race: refuse it.
        let fd = open(realPath, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW)
        guard fd >= 0 else {
            switch errno {
            case ENOENT, ENOTDIR, ELOOP: return Self.notFound
            case EACCES: return Self.failure(403, "forbidden", "the file is not readable by the server")
            case let e: return Self.failure(500, "internal_error", "cannot open the file: \(Self.errnoText(e))")
            }
        }
        let file = OwnedFileDescriptor(fd: fd)  // closed when the last response using it is gone
        var st = stat()
        guard fstat(fd, &st) == 0 else { return Self.failure(500, "internal_error", "cannot stat the file: \(Self.errnoText(errno))") }
        guard st.st_mode & S_IFMT == S_IFREG else { return Self.notFound }
        let version = StaticFileVersion(st)
        let contentType = MIMETypes.contentType(forFileName: name)
        let compressible = MIMETypes.isCompressible(contentType)

        var gzipped: [UInt8]?
        if compressible, (Self.minGzipBytes...Self.maxGzipBytes).contains(version.size), Self.acceptsGzip(request) {
            switch gzip(file, realPath, version) {
            case .smaller(let bytes)?: gzipped = bytes
            case .notSmaller?: break
            case nil: return Self.readFailure
            }
        }

        // RFC 9110 §15.4.5: a 304 carries the validators and the caching fields of the 200.
        let entityTag = Self.entityTag(version, gzip: gzipped != nil)
        var headers: HTTPHeaders = [:]
        headers.add(name: "ETag", value: entityTag)
        headers.add(name: "Last-Modified", value: HTTPDate.format(secondsSince1970: version.mtimeSeconds))
        headers.add(name: "Cache-Control", value: Self.cacheControl)
        if compressible { headers.add(name: "Vary", value: "Accept-Encoding") }  // RFC 9110 §12.5.5
        if Self.isNotModified(request, entityTag: entityTag, mtimeSeconds: version.mtimeSeconds) {
            return HTTPResponse(status: 304, headers: headers)
        }
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "X-Content-Type-Options", value: "nosniff")

        if let gzipped {
            headers.add(name: "Content-Encoding", value: "gzip")
            return HTTPResponse(status: 200, headers: headers, body: .bytes(gzipped))
        }
        guard version.size <= Self.maxInMemoryFileBytes else {
            return HTTPResponse(status: 200, headers: headers, body: .file(FileRegion(file: file, offset: 0, length: version.size)))
        }
        if let bytes = cache.identity(path: realPath, version: version) {
            return HTTPResponse(status: 200, headers: headers, body: .bytes(bytes))
        }
        guard let bytes = Self.readAll(file, size: version.size) else { return Self.readFailure }
        cache.storeIdentity(bytes, path: realPath, version: version)
        return HTTPResponse(status: 200, headers: headers, body: .bytes(bytes))
    }

    /// The gzip outcome for this version, compressed at most once while it stays cached;
    /// nil when the file could not be read.
    private func gzip(_ file: OwnedFileDescriptor, _ realPath: String, _ version: StaticFileVersion) -> StaticFileCache.Gzipped? {
        if let cached = cache.gzipped(path: realPath, version: version) { return cached }
        guard let bytes = cache.identity(path: realPath, version: version) ?? Self.readAll(file, size: version.size) else { return nil }
        if bytes.count <= Self.maxInMemoryFileBytes { cache.storeIdentity(bytes, path: realPath, version: version) }
        let outcome: StaticFileCache.Gzipped
        if let compressed = GzipCompressor.compress(bytes), compressed.count < bytes.count {
            outcome = .smaller(compressed)
        } else {
            outcome = .notSmaller  // already dense (or zlib failed): plain bytes are no worse
        }
        cache.storeGzipped(outcome, path: realPath, version: version)
        return outcome
    }

    /// Exactly `size` bytes from the start of the file; nil on an error or when the file is
    /// shorter than fstat said (it changed while we read: better a 500 than wrong bytes).
    static func readAll(_ file: OwnedFileDescriptor, size: Int) -> [UInt8]? {
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            count = 0
            while count < size {
                let n = pread(file.fd, buffer.baseAddress! + count, size - count, off_t(count))
                if n > 0 {
                    count += n
                } else if n < 0 && errno == EINTR {
                    continue
                } else {
                    failed = true
                    return
                }
            }
        }
        return failed ? nil : bytes
    }

    // MARK: - Responses

    static var notFound: HTTPResponse { failure(404, "not_found", "no such file") }
    static var readFailure: HTTPResponse { failure(500, "internal_error", "cannot read the file") }

    static func failure(_ status: Int, _ code: String, _ message: String) -> HTTPResponse {
        var response = HTTPResponse.error(status: status, code: code, message: message)
        response.headers.add(name: "X-Content-Type-Options", value: "nosniff")
        return response
    }

    // MARK: - Helpers

    /// realpath(3); nil with errno set.
    static func canonicalPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    static func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }
}

extension StaticFileVersion {
    init(_ st: stat) {
        self.init(
            device: UInt64(st.st_dev), inode: UInt64(st.st_ino), size: Int(st.st_size),
            mtimeNanoseconds: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
    }
}

// MARK: - Validators and negotiation (pure)

extension StaticFileServer {
    /// A strong ETag (RFC 9110 §8.8.3) from the file's identity: no hashing, and any change
    /// of content, size, inode or mtime gives a new tag. The gzip variant is a different
    /// representation, so it has its own tag.
    static func entityTag(_ version: StaticFileVersion, gzip: Bool) -> String {
        let parts = [version.device, version.inode, UInt64(version.size), UInt64(bitPattern: version.mtimeNanoseconds)]
        return "\"" + parts.map { String($0, radix: 16) }.joined(separator: "-") + (gzip ? "-gz" : "") + "\""
    }

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
        var gzip: Int?
        var wildcard: Int?
        for element in request.values(name: "Accept-Encoding").flatMap({ $0.split(separator: ",") }) {
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
