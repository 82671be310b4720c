import HeraldLoop
import HeraldWire

/// What a response carries after its header section.
public enum HTTPResponseBody: Sendable {
    case none
    /// Bytes in memory (often shared with a cache: arrays are copy-on-write, so this is no copy).
    case bytes([UInt8])
    /// A file region the loop sends with sendfile(2), never copied through user space.
    case file(FileRegion)

    /// The number of body bytes, i.e. the `Content-Length` the server writes.
    public var count: Int {
        switch self {
        case .none: return 0
        case .bytes(let bytes): return bytes.count
        case .file(let region): return region.length
        }
    }
}

/// A response before the server adds `Date`, `Server`, `Content-Length` and `Connection`.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: HTTPResponseBody

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: HTTPResponseBody = .none) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// `bytes` as `application/json` (RFC 8259 §11: no charset parameter; JSON is UTF-8).
    public static func json(status: Int, _ bytes: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, headers: jsonHeaders, body: .bytes(bytes))
    }

    /// Shared by every JSON response (copy-on-write): no header arrays built per response.
    static let jsonHeaders: HTTPHeaders = ["Content-Type": "application/json"]

    /// The contract's error shape, `{"error":{"code":"…","message":"…"}}`.
    public static func error(status: Int, code: String, message: String) -> HTTPResponse {
        json(status: status, JSONText.errorBody(code: code, message: message))
    }
}
