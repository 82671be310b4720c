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
    /// The root, held open for fstatat(2) of the files directly in it; its device and inode,
    /// to tell whether `root` still names it.
    private let rootFD: Int32
    private let rootDevice: UInt64
    private let rootInode: UInt64
    /// Whether answers are built once per file version and kept (always, but for the tests
    /// that hold them to the answers built per request).
    let cachesResponses: Bool

    /// `root` must be a directory the process can list and enter; its realpath is kept, so
    /// every served file is checked against the real location.
    init(root: String, cachesResponses: Bool = true) throws(StaticFileServerError) {
        guard let real = Self.canonicalPath(root) else {
            throw StaticFileServerError(path: root, reason: Self.errnoText(errno))
        }
        var st = stat()
        guard stat(real, &st) == 0 else { throw StaticFileServerError(path: root, reason: Self.errnoText(errno)) }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw StaticFileServerError(path: root, reason: "not a directory") }
        let fd = open(real, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StaticFileServerError(path: root, reason: Self.errnoText(errno)) }
        var opened = stat()
        guard fstat(fd, &opened) == 0, access(real, X_OK) == 0 else {
            let reason = Self.errnoText(errno)
            close(fd)
            throw StaticFileServerError(path: root, reason: reason)
        }
        self.root = real
        self.cachesResponses = cachesResponses
        rootFD = fd
        rootDevice = UInt64(opened.st_dev)
        rootInode = UInt64(opened.st_ino)
    }

    deinit { close(rootFD) }

    func lookup(_ path: StaticFilePath, query: String?, acceptsGzip: Bool) -> StaticFileLookup {
        if cachesResponses, path.segments.count == 1, !path.hasTrailingSlash, let cached = cachedInRoot(path.segments[0], acceptsGzip: acceptsGzip) {
            return .cached(cached)
        }
        if let found = lookupWithoutSymlinks(path, acceptsGzip: acceptsGzip) { return found }
        switch locate(path, query: query) {
        case .file(let realPath, let name):
            // realpath(3) gave back the path as asked: no component of it is a symlink, so its
            // answers may be cached under it as on the openat2 path (used where openat2 is
            // missing: old kernels, seccomp, valgrind).
            let key = cachesResponses && realPath == literalPath(path) ? path.relativePath : nil
            return serve(realPath, name: name, acceptsGzip: acceptsGzip, key: key)
        case .response(let response): return .response(response)
        }
    }

    func cachedResponse(forName name: String, acceptsGzip: Bool) -> StaticCachedResponse? {
        cachesResponses ? cachedInRoot(name, acceptsGzip: acceptsGzip) : nil
    }

    /// A file directly in the root whose answers are cached, revalidated with one fstatat(2)
    /// instead of openat2, fstat and close: the name, a single component that is not `.` or
    /// `..` (StaticFilePath refused those), is looked up in the root without following a
    /// symlink, so the name must still be the regular file it was — same device, inode, size,
    /// mtime and ctime (a write, a replacement, a chmod or a chown each change one) — or the
    /// request takes the paths below, which decide as they always did: a symlink, a
    /// directory, a missing or unreadable file never get an answer from here. Deeper paths do
    /// not come here: fstatat would follow a symlinked parent directory.
    private func cachedInRoot(_ name: String, acceptsGzip: Bool) -> StaticCachedResponse? {
        let (file, checkRoot) = cache.cachedFile(name, second: time(nil))
        if checkRoot && rootWasReplaced() {
            cache.rootWasReplaced()
            return nil
        }
        guard let file, let response = file.response(acceptsGzip: acceptsGzip) else { return nil }
        var st = stat()
        guard fstatat(rootFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0, st.st_mode & S_IFMT == S_IFREG,
              StaticFileVersion(st) == file.version else { return nil }
        return response
    }

    /// Whether `root` names another directory than the one held open (renamed or replaced
    /// while serving): the cached answers would then come from the old one. Checked at most
    /// once a second; from then on every request takes the paths as before.
    private func rootWasReplaced() -> Bool {
        var st = stat()
        guard stat(root, &st) == 0 else { return true }
        return UInt64(st.st_dev) != rootDevice || UInt64(st.st_ino) != rootInode
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
        let realPath = literalPath(path)
        let fd = NoSymlinkOpen.open(realPath, flags: O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        let file = OwnedFileDescriptor(fd: fd)
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        return serve(file, st, realPath, name: name, acceptsGzip: acceptsGzip, key: cachesResponses ? path.relativePath : nil)
    }

    /// `root/relative`: the real path of the file when no component is a symlink.
    private func literalPath(_ path: StaticFilePath) -> String {
        root == "/" ? "/" + path.relativePath : root + "/" + path.relativePath
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

    private func serve(_ realPath: String, name: String, acceptsGzip: Bool, key: String?) -> StaticFileLookup {
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
        return serve(file, st, realPath, name: name, acceptsGzip: acceptsGzip, key: key)
    }

    /// The representation of the open regular file `file` (fstat'ed as `st`). `key`: the
    /// path asked for relative to the root when it is the file's real path (reached without a
    /// symlink); its answers are then cached under it, and used while `st` matches them.
    private func serve(
        _ file: OwnedFileDescriptor, _ st: stat, _ realPath: String, name: String, acceptsGzip: Bool, key: String? = nil
    ) -> StaticFileLookup {
        let version = StaticFileVersion(st)
        let earlier = key.flatMap { cache.cachedFile($0) }
        if let earlier, earlier.version == version, let response = earlier.response(acceptsGzip: acceptsGzip) {
            return .cached(response)
        }
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
        var representation = StaticRepresentation(
            contentType: contentType, isCompressible: compressible, isGzipped: gzipped != nil,
            entityTag: gzipped != nil ? validators.gzipEntityTag : validators.entityTag,
            lastModifiedSeconds: version.mtimeSeconds, lastModifiedText: validators.lastModified,
            body: { nil })
        // A body held in memory: build both answers once and keep them for the next requests.
        // The bytes are read now even for a 304 (once per version); should that fail, the
        // representation below reads them only for a 200, as before.
        if let key, gzipped != nil || version.size <= StaticFileServer.maxInMemoryFileBytes,
           let bytes = gzipped ?? identity(file, realPath, version) {
            let response = StaticCachedResponse(representation, body: .bytes(bytes))
            let cached = earlier?.adding(response, acceptsGzip: acceptsGzip, version: version)
                ?? StaticCachedFile(version: version, forPlainClients: acceptsGzip ? nil : response, forGzipClients: acceptsGzip ? response : nil)
            cache.storeCachedFile(cached, key: key, path: realPath)
            return .cached(response)
        }
        representation.body = { [self] in
            if let gzipped { return .bytes(gzipped) }
            guard version.size <= StaticFileServer.maxInMemoryFileBytes else {
                return .file(FileRegion(file: file, offset: 0, length: version.size))
            }
            return identity(file, realPath, version).map { .bytes($0) }
        }
        return .found(representation)
    }

    /// The bytes of a small file, from the cache or read (and cached); nil when unreadable.
    private func identity(_ file: OwnedFileDescriptor, _ realPath: String, _ version: StaticFileVersion) -> [UInt8]? {
        if let bytes = cache.identity(path: realPath, version: version) { return bytes }
        guard let bytes = Self.readAll(file, size: version.size) else { return nil }
        cache.storeIdentity(bytes, path: realPath, version: version)
        return bytes
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
            mtimeNanoseconds: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
            ctimeNanoseconds: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec))
    }
}
