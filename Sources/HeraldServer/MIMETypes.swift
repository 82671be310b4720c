import HeraldWire

/// Content types of the dashboard's static files, by file name extension.
public enum MIMETypes {
    /// For anything not in the table: the browser must not guess (we also send `nosniff`).
    public static let fallback = "application/octet-stream"

    /// Lower-case extension → `Content-Type`. Text types name their charset so a browser never
    /// has to guess it (the dashboard's files are UTF-8).
    public static let byExtension: [String: String] = [
        "html": "text/html; charset=utf-8",
        "htm": "text/html; charset=utf-8",
        "js": "text/javascript; charset=utf-8",  // RFC 9239 §6: text/javascript, not application/
        "mjs": "text/javascript; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "txt": "text/plain; charset=utf-8",
        "json": "application/json",
        "map": "application/json",  // source maps are JSON
        "webmanifest": "application/manifest+json",
        "xml": "application/xml",
        "svg": "image/svg+xml",
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "gif": "image/gif",
        "webp": "image/webp",
        "ico": "image/x-icon",
        "woff2": "font/woff2",
        "woff": "font/woff",
        "wasm": "application/wasm",
    ]

    /// The type for a file name or path, from the text after its last dot. A name that only
    /// starts with a dot (`.env`) has no extension.
    public static func contentType(forFileName name: some StringProtocol) -> String {
        let base = String(name).split(separator: "/", omittingEmptySubsequences: false).last ?? ""
        guard let dot = base.lastIndex(of: "."), dot != base.startIndex else { return fallback }
        return byExtension[base[base.index(after: dot)...].lowercased()] ?? fallback
    }

    /// `contentType(forFileName:)` for a String: an ASCII name is looked at on its bytes
    /// (splitting by Character was a good part of a static request, callgrind); others as before.
    public static func contentType(forFileName name: String) -> String {
        let bytes = name.utf8
        guard bytes.allSatisfy({ $0 < 0x80 }) else { return contentType(forFileName: Substring(name)) }
        let baseStart = bytes.lastIndex(of: UInt8(ascii: "/")).map { bytes.index(after: $0) } ?? bytes.startIndex
        let base = bytes[baseStart...]
        guard let dot = base.lastIndex(of: UInt8(ascii: ".")), dot != base.startIndex else { return fallback }
        var ext = [UInt8](base[bytes.index(after: dot)...])
        for i in ext.indices where ext[i] >= UInt8(ascii: "A") && ext[i] <= UInt8(ascii: "Z") { ext[i] |= 0x20 }
        return byExtension[String(decoding: ext, as: UTF8.self)] ?? fallback
    }

    /// `isCompressible` and whether the media type is `text/javascript`, worked out once for
    /// every type of the table (the only ones a file gets).
    static let knownTypes: [String: (compressible: Bool, javaScript: Bool)] = {
        var known: [String: (compressible: Bool, javaScript: Bool)] = [:]
        for type in Set(byExtension.values).union([fallback]) {
            known[type] = (isCompressible(Substring(type)), mediaType(of: Substring(type)) == "text/javascript")
        }
        return known
    }()

    /// The media type (before any `;`), trimmed and lower-cased.
    static func mediaType(of contentType: some StringProtocol) -> String {
        (contentType.split(separator: ";").first.map { $0.trimmingHTTPWhitespace() } ?? "").lowercased()
    }

    public static func isCompressible(_ contentType: String) -> Bool {
        knownTypes[contentType]?.compressible ?? isCompressible(Substring(contentType))
    }

    /// Whether gzip pays off for the type: text and text-like formats shrink a lot; images,
    /// fonts (woff2 is already Brotli-compressed) and archives do not.
    public static func isCompressible(_ contentType: some StringProtocol) -> Bool {
        let mediaType = mediaType(of: contentType)
        if mediaType.hasPrefix("text/") || mediaType.hasSuffix("+json") || mediaType.hasSuffix("+xml") { return true }
        return compressibleApplicationTypes.contains(mediaType)
    }

    private static let compressibleApplicationTypes: Set<String> = [
        "application/json", "application/javascript", "application/xml", "application/wasm",
    ]
}
