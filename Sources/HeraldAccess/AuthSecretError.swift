import Glibc

/// Why `--auth-secret-file` cannot be used; `herald serve` refuses to start with this line.
public enum AuthSecretError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case tooShort(Int)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "cannot read the auth secret \(path): \(reason)"
        case .tooShort(let count):
            return "the auth secret is \(count) bytes; HS256 needs at least \(TokenVerifier.minimumKeyBytes) (try: head -c 48 /dev/urandom | base64 > secret)"
        }
    }
}

/// The HS256 key of `--auth-secret-file`: the file's bytes with trailing whitespace removed
/// (a newline left by an editor or `echo` must not change the key).
public enum AuthSecret {
    /// A key file is small; anything larger is a mistake (a certificate bundle, a log).
    static let maxFileBytes = 64 * 1024

    public static func load(path: String) throws(AuthSecretError) -> [UInt8] {
        guard let file = fopen(path, "rb") else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n > 0 { bytes += chunk[..<n] }
            if n < chunk.count { break }
            if bytes.count > maxFileBytes { throw .unreadable(path: path, reason: "larger than \(maxFileBytes) bytes") }
        }
        if ferror(file) != 0 { throw .unreadable(path: path, reason: "read error") }
        return trimmed(bytes)
    }

    /// Without trailing spaces, tabs, CR and LF.
    public static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        var end = bytes.count
        while end > 0, [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r")].contains(bytes[end - 1]) { end -= 1 }
        return Array(bytes[..<end])
    }
}
