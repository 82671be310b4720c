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

/// `--public DIR`: the files of one directory, never anything outside it. Files are read at
/// request time, so an edit shows at the next request: small ones are read into memory and
/// cached, large ones go out with sendfile(2), and compressible ones are gzipped once per
/// version (path, device, inode, size, mtime).
final class DirectoryFileSource: StaticFileSource {
    /// The realpath of the public directory.
    let root: String
    let cache = StaticFileCache(maxBytes: StaticFileServer.maxCacheBytes)

    /// `root` must be a directory the process can list and enter; its realpath is kept, so
    /// every served file is checked against the real location.
    init(root: String) throws(StaticFileServerError) {
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

    func lookup(_ path: StaticFilePath, query: String?, acceptsGzip: Bool) -> StaticFileLookup {
        if let found = lookupWithoutSymlinks(path, acceptsGzip: acceptsGzip) { return found }
        switch locate(path, query: query) {
        case .file(let realPath, let name): return serve(realPath, name: name, acceptsGzip: acceptsGzip)
        case .response(let response): return .response(response)
        }
    }

    /// The usual request, a regular file reached without a symlink, in one openat2(2) and one
    /// fstat(2) instead of realpath(3) (an lstat per component), stat, open and fstat. With no
    /// symlink on the way and no `..` (StaticFilePath refused it), `root/relative` is the
    /// file's realpath: inside the root, no hidden component (nor `.`/`..`: refused too), and
    /// the same cache key as `locate` finds. Anything else — a symlink (ELOOP), a directory, a
    /// missing file, an error, no openat2 — returns nil and takes `locate`, which decides as
    /// before; so the answers are the same, only the system calls differ.
    private func lookupWithoutSymlinks(_ path: StaticFilePath, acceptsGzip: Bool) -> StaticFileLookup? {
        guard !path.hasTrailingSlash, let name = path.segments.last else { return nil }
        let realPath = root == "/" ? "/" + path.relativePath : root + "/" + path.relativePath
        let fd = NoSymlinkOpen.open(realPath, flags: O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        let file = OwnedFileDescriptor(fd: fd)
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        return serve(file, st, realPath, name: name, acceptsGzip: acceptsGzip)
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
            guard path.hasTrailingSlash else { return .response(StaticFileServer.redirectToDirectory(path, query: query)) }
            switch resolve(real + "/index.html") {  // index.html may itself be a symlink
            case .found(let index, let s) where s.st_mode & S_IFMT == S_IFREG: return .file(realPath: index, name: "index.html")
            case .found: return .response(StaticFileServer.notFound)
            case .response(let response): return .response(response)
            }
        }
        // A file asked for as a directory (`/app.js/`) does not exist, as on any file system.
        guard st.st_mode & S_IFMT == S_IFREG, !path.hasTrailingSlash, let name = path.segments.last else {
            return .response(StaticFileServer.notFound)  // devices, fifos, sockets are never served
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
            case ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EACCES: return .response(StaticFileServer.notFound)
            case let e: return .response(StaticFileServer.failure(500, "internal_error", "cannot resolve the path: \(Self.errnoText(e))"))
            }
        }
        guard StaticFilePath.isInside(real, root: root), !StaticFilePath.hasHiddenComponent(real, root: root) else {
            return .response(StaticFileServer.notFound)
        }
        var st = stat()
        guard stat(real, &st) == 0 else { return .response(StaticFileServer.notFound) }  // removed just now
        return .found(real, st)
    }

    // MARK: - Serving it

    private func serve(_ realPath: String, name: String, acceptsGzip: Bool) -> StaticFileLookup {
        // O_NONBLOCK: should a fifo appear here after the stat, opening it must not block the
        // loop. O_NOFOLLOW: realpath left no symlink, so one now is a race: refuse it.
        let fd = open(realPath, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW)
        guard fd >= 0 else {
            switch errno {
            case ENOENT, ENOTDIR, ELOOP: return .response(StaticFileServer.notFound)
            case EACCES: return .response(StaticFileServer.failure(403, "forbidden", "the file is not readable by the server"))
            case let e: return .response(StaticFileServer.failure(500, "internal_error", "cannot open the file: \(Self.errnoText(e))"))
            }
        }
        let file = OwnedFileDescriptor(fd: fd)  // closed when the last response using it is gone
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            return .response(StaticFileServer.failure(500, "internal_error", "cannot stat the file: \(Self.errnoText(errno))"))
        }
        guard st.st_mode & S_IFMT == S_IFREG else { return .response(StaticFileServer.notFound) }
        return serve(file, st, realPath, name: name, acceptsGzip: acceptsGzip)
    }

    /// The representation of the open regular file `file` (fstat'ed as `st`).
    private func serve(_ file: OwnedFileDescriptor, _ st: stat, _ realPath: String, name: String, acceptsGzip: Bool) -> StaticFileLookup {
        let version = StaticFileVersion(st)
        let contentType = MIMETypes.contentType(forFileName: name)
        let compressible = MIMETypes.isCompressible(contentType)

        var gzipped: [UInt8]?
        if acceptsGzip, StaticFileServer.gzipPaysOff(contentType: contentType, size: version.size) {
            switch gzip(file, realPath, version) {
            case .smaller(let bytes)?: gzipped = bytes
            case .notSmaller?: break
            case nil: return .response(StaticFileServer.readFailure)
            }
        }
        let cache = self.cache
        // Worked out once per cached version: the same text as computing it here each time.
        let validators: StaticFileCache.Validators
        if let cached = cache.validators(path: realPath, version: version) {
            validators = cached
        } else {
            validators = StaticFileCache.Validators(
                entityTag: Self.entityTag(version, gzip: false), gzipEntityTag: Self.entityTag(version, gzip: true),
                lastModified: HTTPDate.format(secondsSince1970: version.mtimeSeconds))
            cache.storeValidators(validators, path: realPath, version: version)
        }
        return .found(StaticRepresentation(
            contentType: contentType, isCompressible: compressible, isGzipped: gzipped != nil,
            entityTag: gzipped != nil ? validators.gzipEntityTag : validators.entityTag,
            lastModifiedSeconds: version.mtimeSeconds, lastModifiedText: validators.lastModified,
            body: {
                if let gzipped { return .bytes(gzipped) }
                guard version.size <= StaticFileServer.maxInMemoryFileBytes else {
                    return .file(FileRegion(file: file, offset: 0, length: version.size))
                }
                if let bytes = cache.identity(path: realPath, version: version) { return .bytes(bytes) }
                guard let bytes = Self.readAll(file, size: version.size) else { return nil }
                cache.storeIdentity(bytes, path: realPath, version: version)
                return .bytes(bytes)
            }))
    }

    /// The gzip outcome for this version, compressed at most once while it stays cached;
    /// nil when the file could not be read.
    private func gzip(_ file: OwnedFileDescriptor, _ realPath: String, _ version: StaticFileVersion) -> StaticFileCache.Gzipped? {
        if let cached = cache.gzipped(path: realPath, version: version) { return cached }
        guard let bytes = cache.identity(path: realPath, version: version) ?? Self.readAll(file, size: version.size) else { return nil }
        if bytes.count <= StaticFileServer.maxInMemoryFileBytes { cache.storeIdentity(bytes, path: realPath, version: version) }
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

    /// A strong ETag (RFC 9110 §8.8.3) from the file's identity: no hashing, and any change
    /// of content, size, inode or mtime gives a new tag. The gzip variant is a different
    /// representation, so it has its own tag.
    static func entityTag(_ version: StaticFileVersion, gzip: Bool) -> String {
        // The same text as joining `String(part, radix: 16)` with `-`, written in one buffer.
        let parts = (version.device, version.inode, UInt64(version.size), UInt64(bitPattern: version.mtimeNanoseconds))
        var out: [UInt8] = []
        out.reserveCapacity(72)
        out.append(UInt8(ascii: "\""))
        for (i, part) in [parts.0, parts.1, parts.2, parts.3].enumerated() {
            if i > 0 { out.append(UInt8(ascii: "-")) }
            var shift = 60
            while shift > 0 && (part >> UInt64(shift)) & 0xF == 0 { shift -= 4 }
            while shift >= 0 {
                let digit = UInt8((part >> UInt64(shift)) & 0xF)
                out.append(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
                shift -= 4
            }
        }
        if gzip { out.append(contentsOf: "-gz".utf8) }
        out.append(UInt8(ascii: "\""))
        return String(decoding: out, as: UTF8.self)
    }

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
