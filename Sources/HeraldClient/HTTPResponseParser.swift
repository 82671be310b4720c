import HeraldWire

/// A response status line and its header fields.
public struct HTTPClientResponseHead: Equatable, Sendable {
    public var major: Int
    public var minor: Int
    public var status: Int
    public var reason: String
    public var headers: HTTPHeaders

    public init(major: Int = 1, minor: Int = 1, status: Int, reason: String = "", headers: HTTPHeaders = HTTPHeaders()) {
        self.major = major
        self.minor = minor
        self.status = status
        self.reason = reason
        self.headers = headers
    }
}

/// What the response parser found next.
public enum HTTPResponseParserEvent: Equatable, Sendable {
    case head(HTTPClientResponseHead)
    /// A piece of the (de-chunked) body; never empty.
    case body([UInt8])
    /// The response is complete. After a `101` the buffer holds the upgraded protocol's bytes.
    case end
}

/// Bounds on what a response may make the client buffer.
public struct HTTPResponseParserLimits: Sendable, Equatable {
    /// Status line plus header fields. Four times the 16 KiB request heads most servers accept:
    /// responses carry more (cookies, CSP), and a CLI can afford it.
    public var maxHeadBytes: Int
    /// Header fields in one head (or one trailer section).
    public var maxHeaderCount: Int
    /// The whole body. A `GET /api/tasks?limit=10000` with 4 KiB of meta per task is ~50 MiB;
    /// 256 MiB leaves room and still stops a runaway stream.
    public var maxBodyBytes: Int

    public static let defaultMaxHeadBytes = 64 * 1024
    public static let defaultMaxHeaderCount = 200
    public static let defaultMaxBodyBytes = 256 << 20

    public init(maxHeadBytes: Int = defaultMaxHeadBytes, maxHeaderCount: Int = defaultMaxHeaderCount,
                maxBodyBytes: Int = defaultMaxBodyBytes) {
        self.maxHeadBytes = maxHeadBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }

    public static let `default` = HTTPResponseParserLimits()
}

/// An incremental HTTP/1.1 response parser (RFC 9112). Pure: bytes in, events out, like
/// `HTTPRequestParser` on the server side but lenient where a client can afford to be (a bare
/// LF ends a line, RFC 9112 §2.2; an empty reason phrase may lack its space).
///
/// It never consumes a byte past the end of the response, so after a `101` head and `.end`
/// the buffer holds the first WebSocket frames.
public struct HTTPResponseParser: Sendable {
    public let limits: HTTPResponseParserLimits
    /// The request's method: a response to HEAD has no body whatever its headers say.
    public let requestMethod: String

    enum State: Sendable, Equatable {
        case head
        case endPending
        case fixedBody(remaining: Int)
        /// No length given: the body ends when the server closes (RFC 9112 §6.3 item 8).
        case untilClose
        case chunkSizeLine
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case done
        case failed(ClientError)
    }

    var state: State = .head
    var line: [UInt8] = []
    var sectionBytes = 0
    var statusLine: (major: Int, minor: Int, status: Int, reason: String)?
    var headers = HTTPHeaders()
    var fieldCount = 0
    var bodyBytes = 0

    /// A chunk-size line: 16 hex digits and extensions we skip; more is not a size.
    static let maxChunkSizeLineBytes = 4 * 1024

    public init(requestMethod: String = "GET", limits: HTTPResponseParserLimits = .default) {
        self.requestMethod = requestMethod
        self.limits = limits
    }

    /// True once `.end` was returned.
    public var isComplete: Bool { state == .done }

    /// The next event, or nil when more bytes are needed. After a throw every call throws again.
    public mutating func next(_ input: inout ByteBuffer) throws(ClientError) -> HTTPResponseParserEvent? {
        do {
            return try step(&input)
        } catch {
            state = .failed(error)
            throw error
        }
    }

    /// Call when the connection reached end of file: ends a body that runs until close, and
    /// otherwise says what was cut short.
    public mutating func finish() throws(ClientError) -> HTTPResponseParserEvent? {
        switch state {
        case .untilClose:
            state = .done
            return .end
        case .done:
            return nil
        case .failed(let error):
            throw error
        case .endPending:
            state = .done
            return .end
        case .head:
            let error = ClientError.connectionClosed(
                statusLine == nil && line.isEmpty ? "before any response arrived" : "in the middle of the response head")
            state = .failed(error)
            throw error
        default:
            let error = ClientError.connectionClosed("in the middle of the response body")
            state = .failed(error)
            throw error
        }
    }

    private mutating func step(_ input: inout ByteBuffer) throws(ClientError) -> HTTPResponseParserEvent? {
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .done:
                return nil
            case .endPending:
                state = .done
                return .end
            case .head:
                guard try readLine(&input, limit: limits.maxHeadBytes, tooLong: "the response head is larger than \(limits.maxHeadBytes) bytes") else { return nil }
                if let head = try headLine() { return .head(head) }
            case .fixedBody(let remaining):
                guard !input.isEmpty else { return nil }
                let n = min(remaining, input.readableBytes)
                let bytes = input.readBytes(n)!
                state = remaining == n ? .endPending : .fixedBody(remaining: remaining - n)
                return .body(bytes)
            case .untilClose:
                guard !input.isEmpty else { return nil }
                let bytes = input.readAll()
                try countBody(bytes.count)
                return .body(bytes)
            case .chunkSizeLine:
                guard try readLine(&input, limit: Self.maxChunkSizeLineBytes, tooLong: "a chunk size line is too long") else { return nil }
                try chunkSize()
            case .chunkData(let remaining):
                guard !input.isEmpty else { return nil }
                let n = min(remaining, input.readableBytes)
                let bytes = input.readBytes(n)!
                state = remaining == n ? .chunkDataEnd : .chunkData(remaining: remaining - n)
                return .body(bytes)
            case .chunkDataEnd:
                guard try readLine(&input, limit: 2, tooLong: "chunk data is longer than its size") else { return nil }
                guard line.isEmpty else { throw .badResponse("chunk data is longer than its size") }
                sectionBytes = 0
                state = .chunkSizeLine
            case .trailers:
                guard try readLine(&input, limit: limits.maxHeadBytes, tooLong: "the trailer section is larger than \(limits.maxHeadBytes) bytes") else { return nil }
                if line.isEmpty {
                    state = .done
                    return .end
                }
                // RFC 9112 §7.1.2: trailer fields may be discarded; check their shape and count.
                _ = try Self.parseField(line)
                fieldCount += 1
                guard fieldCount <= limits.maxHeaderCount else { throw .badResponse("more than \(limits.maxHeaderCount) trailer fields") }
                line.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Moves bytes up to and including the next LF out of `input`; true when `line` holds a
    /// whole line (without CRLF or LF). `limit` bounds the current section.
    private mutating func readLine(_ input: inout ByteBuffer, limit: Int, tooLong: String) throws(ClientError) -> Bool {
        let view = input.readableView
        guard !view.isEmpty else { return false }
        let lf = view.firstIndex(of: 0x0A)
        let end = lf.map { $0 + 1 } ?? view.endIndex
        let taken = end - view.startIndex
        sectionBytes += taken
        guard sectionBytes <= limit else { throw .badResponse(tooLong) }
        line.append(contentsOf: view[view.startIndex..<(lf ?? view.endIndex)])
        input.moveReaderIndex(forwardBy: taken)
        guard lf != nil else { return false }
        if line.last == 0x0D { line.removeLast() }
        // A CR anywhere else is not a line ending and not a valid field character.
        guard !line.contains(0x0D) else { throw .badResponse("a CR inside a line") }
        return true
    }

    /// Handles one whole line of the head; returns the head at its empty last line.
    private mutating func headLine() throws(ClientError) -> HTTPClientResponseHead? {
        defer { line.removeAll(keepingCapacity: true) }
        guard let status = statusLine else {
            statusLine = try Self.parseStatusLine(line)
            return nil
        }
        if !line.isEmpty {
            if line.first == 0x20 || line.first == 0x09 {
                throw .badResponse("obsolete line folding in a header field")
            }
            let field = try Self.parseField(line)
            headers.add(name: field.name, value: field.value)
            fieldCount += 1
            guard fieldCount <= limits.maxHeaderCount else { throw .badResponse("more than \(limits.maxHeaderCount) header fields") }
            return nil
        }
        let head = HTTPClientResponseHead(
            major: status.major, minor: status.minor, status: status.status, reason: status.reason, headers: headers)
        statusLine = nil
        headers = HTTPHeaders()
        fieldCount = 0
        sectionBytes = 0
        if (100...199).contains(head.status) && head.status != 101 {
            // RFC 9110 §15.2: interim responses (100 Continue, 103 Early Hints) come before
            // the final one; skip them.
            state = .head
            return nil
        }
        try chooseBodyFraming(head)
        return head
    }

    /// RFC 9112 §6.3: how the body's length is known.
    private mutating func chooseBodyFraming(_ head: HTTPClientResponseHead) throws(ClientError) {
        if requestMethod == "HEAD" || head.status == 101 || head.status == 204 || head.status == 304 {
            state = .endPending
            return
        }
        let codings = head.headers.tokens(name: "transfer-encoding")
        if !codings.isEmpty {
            // Transfer-Encoding overrides Content-Length (§6.3 item 3); a final coding other
            // than chunked means the body runs until close (item 4, response side).
            if codings.last == "chunked" {
                sectionBytes = 0
                state = .chunkSizeLine
            } else {
                state = .untilClose
            }
            return
        }
        let lengths = head.headers.values(name: "content-length")
            .flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
            .map { $0.trimmingHTTPWhitespace() }
        if let first = lengths.first {
            // §6.3 item 5: differing or invalid values are an unrecoverable error.
            guard lengths.allSatisfy({ $0 == first }), !first.isEmpty, first.utf8.count <= 18,
                first.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let length = Int(first)
            else { throw .badResponse("invalid Content-Length '\(lengths.joined(separator: ","))'") }
            try countBody(length)
            state = length == 0 ? .endPending : .fixedBody(remaining: length)
            return
        }
        state = .untilClose
    }

    private mutating func countBody(_ count: Int) throws(ClientError) {
        bodyBytes += count
        guard bodyBytes <= limits.maxBodyBytes else {
            throw .badResponse("the response body is larger than \(limits.maxBodyBytes) bytes")
        }
    }

    /// `chunk-size [ chunk-ext ]` (RFC 9112 §7.1): extensions are skipped.
    private mutating func chunkSize() throws(ClientError) {
        defer { line.removeAll(keepingCapacity: true) }
        var size = 0
        var digits = 0
        for b in line {
            guard let v = Self.hexValue(b) else { break }
            digits += 1
            guard digits <= 16 else { throw .badResponse("a chunk size has more than 16 hex digits") }
            size = size << 4 | Int(v)
        }
        guard digits > 0, size >= 0 else { throw .badResponse("invalid chunk size line") }
        if digits < line.count {
            let next = line[digits]
            guard next == UInt8(ascii: ";") || next == 0x20 || next == 0x09 else {
                throw .badResponse("invalid chunk size line")
            }
        }
        sectionBytes = 0
        if size == 0 {
            fieldCount = 0
            state = .trailers
            return
        }
        try countBody(size)
        state = .chunkData(remaining: size)
    }

    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: b - 0x30
        case 0x41...0x46: b - 0x41 + 10
        case 0x61...0x66: b - 0x61 + 10
        default: nil
        }
    }

    /// `HTTP/1.1 200 OK` (RFC 9112 §4); the reason phrase and its space may be missing.
    static func parseStatusLine(_ line: [UInt8]) throws(ClientError) -> (major: Int, minor: Int, status: Int, reason: String) {
        let text = String(decoding: line, as: UTF8.self)
        let b = line
        guard b.count >= 12, b.starts(with: Array("HTTP/".utf8)),
            (0x30...0x39).contains(b[5]), b[6] == UInt8(ascii: "."), (0x30...0x39).contains(b[7]), b[8] == 0x20,
            b[9...11].allSatisfy({ (0x30...0x39).contains($0) }), b.count == 12 || b[12] == 0x20
        else { throw .badResponse("not an HTTP/1.x status line: '\(text.prefix(80))'") }
        let major = Int(b[5] - 0x30), minor = Int(b[7] - 0x30)
        guard major == 1 else { throw .badResponse("unsupported HTTP version \(major).\(minor)") }
        let status = Int(b[9] - 0x30) * 100 + Int(b[10] - 0x30) * 10 + Int(b[11] - 0x30)
        guard status >= 100 else { throw .badResponse("status code \(status) is not 100–999") }
        let reason = b.count > 13 ? String(decoding: b[13...], as: UTF8.self) : ""
        return (major, minor, status, reason)
    }

    /// `name ":" OWS value OWS` (RFC 9112 §5).
    static func parseField(_ line: [UInt8]) throws(ClientError) -> HTTPHeaders.Field {
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > 0 else {
            throw .badResponse("a header line without a field name and colon")
        }
        let name = line[..<colon]
        guard name.allSatisfy(isTokenChar) else { throw .badResponse("a header field name is not a token") }
        let value = line[(colon + 1)...]
        guard value.allSatisfy({ $0 == 0x09 || $0 >= 0x20 && $0 != 0x7F }) else {
            throw .badResponse("a header field value has a control character")
        }
        return HTTPHeaders.Field(
            name: String(decoding: name, as: UTF8.self),
            value: String(decoding: value, as: UTF8.self).trimmingHTTPWhitespace())
    }

    /// RFC 9110 §5.6.2 tchar.
    static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        default: return Array("!#$%&'*+-.^_`|~".utf8).contains(c)
        }
    }
}
