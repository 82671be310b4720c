/// Bounds on what one HTTP/1.1 request may make the parser buffer or count.
/// Every limit is refused with the status RFC 9110 / RFC 6585 gives it, never by truncating.
public struct HTTPParserLimits: Sendable {
    /// Request line + header fields + the final blank line, in bytes (leading empty lines before
    /// the request line are not counted). Also bounds a chunked body's trailer section.
    /// Past it: 431 `headers_too_large`.
    public var maxHeadBytes: Int
    /// Header fields in one head (and trailer fields in one trailer section).
    /// Past it: 431 `too_many_headers`.
    public var maxHeaderCount: Int
    /// Body bytes after de-chunking. A Content-Length above it is refused when the head is
    /// parsed; a chunked body when the sum of chunk sizes passes it. Past it: 413 `body_too_large`.
    public var maxBodyBytes: Int

    /// 16 KiB of head: nginx's and common proxies' default (large_client_header_buffers is 4×8k,
    /// Apache's LimitRequestFieldSize 8k); browsers stay far below it.
    public static let defaultMaxHeadBytes = 16 * 1024
    /// 100 fields: Apache's LimitRequestFields default; real clients send 10–30.
    public static let defaultMaxHeaderCount = 100
    /// 1 MiB: Herald's API bodies are small JSON documents (progress reports, task specs);
    /// nginx's client_max_body_size default is the same.
    public static let defaultMaxBodyBytes = 1 << 20

    public init(
        maxHeadBytes: Int = HTTPParserLimits.defaultMaxHeadBytes,
        maxHeaderCount: Int = HTTPParserLimits.defaultMaxHeaderCount,
        maxBodyBytes: Int = HTTPParserLimits.defaultMaxBodyBytes
    ) {
        self.maxHeadBytes = maxHeadBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }

    public static let `default` = HTTPParserLimits()
}
