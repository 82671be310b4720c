/// A response status and its header fields; the body is written separately.
/// The caller puts Date, Server, Content-Length (or Transfer-Encoding) and Connection into `headers`.
public struct HTTPResponseHead: Sendable, Equatable {
    public var status: Int
    public var headers: HTTPHeaders

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders()) {
        self.status = status
        self.headers = headers
    }
}
