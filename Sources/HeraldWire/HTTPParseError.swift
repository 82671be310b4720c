/// Why a request could not be parsed: the status to answer with (then close the connection),
/// a stable snake_case `code` for logs and JSON error bodies, and a message for a person.
public struct HTTPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    /// 400, 413, 431, 501 (unsupported transfer-coding) or 505 (version not 1.0/1.1).
    public var status: Int
    public var code: String
    public var message: String

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status) \(code): \(message)" }
}

// The errors the parser throws, one place so codes stay consistent.
extension HTTPParseError {
    static func badRequest(_ code: String, _ message: String) -> HTTPParseError {
        HTTPParseError(status: 400, code: code, message: message)
    }

    // Line syntax (RFC 9112 §2.2).
    static let bareCR = badRequest("bare_cr", "CR not followed by LF")
    static let bareLF = badRequest("bare_lf", "LF not preceded by CR")
    static let tooManyEmptyLines = badRequest("too_many_empty_lines", "too many empty lines before the request line")

    // Request line (RFC 9112 §3).
    static let badRequestLine = badRequest("bad_request_line", "request line must be `method SP target SP version`")
    static let badMethod = badRequest("bad_method", "method is not a token")
    static let badTarget = badRequest("bad_target", "request target is not origin-form, absolute-form or `*`")
    static let badVersion = badRequest("bad_version", "malformed HTTP version")
    static let versionNotSupported = HTTPParseError(
        status: 505, code: "version_not_supported", message: "only HTTP/1.0 and HTTP/1.1 are supported")

    // Header fields (RFC 9112 §5).
    static let obsFold = badRequest("obs_fold", "header line starts with whitespace (obsolete line folding)")
    static let badHeaderLine = badRequest("bad_header_line", "header line has no colon")
    static let spaceBeforeColon = badRequest("space_before_colon", "whitespace between field name and colon")
    static let badHeaderName = badRequest("bad_header_name", "field name is not a token")
    static let badHeaderValue = badRequest("bad_header_value", "field value contains a control character")
    static let headersTooLarge = HTTPParseError(
        status: 431, code: "headers_too_large", message: "request head is larger than the limit")
    static let tooManyHeaders = HTTPParseError(
        status: 431, code: "too_many_headers", message: "more header fields than the limit")
    static let missingHost = badRequest("missing_host", "HTTP/1.1 request without Host")
    static let duplicateHost = badRequest("duplicate_host", "more than one Host field")

    // Framing (RFC 9112 §6).
    static let badContentLength = badRequest("bad_content_length", "Content-Length is not a decimal number")
    static let conflictingContentLength = badRequest(
        "conflicting_content_length", "more than one Content-Length value")
    static let teAndCL = badRequest("te_and_cl", "both Transfer-Encoding and Content-Length")
    static let teInHTTP10 = badRequest("te_in_http10", "Transfer-Encoding in an HTTP/1.0 request")
    static let chunkedNotFinal = badRequest(
        "chunked_not_final", "Transfer-Encoding does not end with chunked, the body length is unknown")
    static let unsupportedTransferEncoding = HTTPParseError(
        status: 501, code: "unsupported_transfer_encoding", message: "only Transfer-Encoding: chunked is supported")
    static let bodyTooLarge = HTTPParseError(
        status: 413, code: "body_too_large", message: "request body is larger than the limit")

    // Chunked coding (RFC 9112 §7.1).
    static let badChunkSize = badRequest("bad_chunk_size", "chunk size is not 1 to 16 hex digits")
    static let badChunkExtension = badRequest("bad_chunk_extension", "malformed chunk extension")
    static let chunkLineTooLong = badRequest("chunk_line_too_long", "chunk size line is longer than the limit")
    static let chunkExtensionsTooLarge = badRequest(
        "chunk_extensions_too_large", "chunk extensions in this body are larger than the limit")
    static let badChunkTerminator = badRequest("bad_chunk_terminator", "chunk data not followed by CRLF")
}
