/// What the request parser found next.
public enum HTTPParserEvent: Equatable, Sendable {
    case head(HTTPRequestHead)
    /// A piece of the (de-chunked) body; never empty. A body may come in many pieces.
    case body([UInt8])
    /// The request is complete (emitted right after `.head` when there is no body).
    case end
}

/// An incremental HTTP/1.1 request parser (RFC 9112). Pure: bytes in, events out.
///
/// It refuses what could be read two ways by two servers (request smuggling: CL+TE, repeated
/// Content-Length, obs-fold, bare CR/LF, whitespace before a colon) instead of guessing,
/// and it never consumes a byte past the end of the current request, so after `.end` the
/// buffer holds the next pipelined request, or the first WebSocket frames after an upgrade.
public struct HTTPRequestParser: Sendable {
    public var limits: HTTPParserLimits

    /// RFC 9112 §2.2: a server SHOULD ignore at least one empty line before a request line
    /// (old clients send CRLF after a POST body). A few are tolerated; more is not HTTP.
    static let maxLeadingEmptyLines = 4

    enum State: Sendable, Equatable {
        /// Between requests: skipping leading empty lines, nothing of a request consumed yet.
        case idle
        /// Reading the request line and header fields.
        case head
        /// `.head` was emitted (or the body ended); `.end` comes next.
        case endPending
        case fixedBody(remaining: Int)
        case chunkSizeLine
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        /// A throw happened; every later call throws the same error.
        case failed(HTTPParseError)
    }

    var state: State = .idle
    var emptyLinesSkipped = 0

    // The line being read (head, chunk size or trailer), without its CRLF.
    var line: [UInt8] = []
    var lineHasPendingCR = false
    /// Bytes consumed by the current section (head, trailer section, or one chunk-size line),
    /// CRLFs included, to hold it to its limit.
    var sectionBytes = 0

    // The request being read.
    var requestLine: RequestLine?
    var headers = HTTPHeaders()
    var trailerCount = 0
    var bodyBytes = 0
    var chunkExtensionBytes = 0
    /// Whether a head already whole in the input is read in one pass (`parseWholeHead`). Off
    /// only in tests, to hold that path to the line-by-line one.
    var wholeHeadPath = true

    public init(limits: HTTPParserLimits = .default) {
        self.limits = limits
    }

    /// True while a request has started (a byte of it was consumed) but not ended.
    public var isMidRequest: Bool {
        switch state {
        case .idle, .failed: return false
        default: return true
        }
    }

    /// True between `.head` and `.end` of a request that has a body.
    public var isReadingBody: Bool {
        switch state {
        case .fixedBody, .chunkSizeLine, .chunkData, .chunkDataEnd, .trailers: return true
        default: return false
        }
    }

    /// Returns the next event, or nil when more bytes are needed. Consumes from `input` only
    /// what it has parsed, never past the end of the current request. After `.end` the parser is
    /// ready for the next request; after a throw it is unusable (answer `status` and close).
    public mutating func next(_ input: inout ByteBuffer) throws(HTTPParseError) -> HTTPParserEvent? {
        if case .failed(let error) = state { throw error }
        do {
            return try step(&input)
        } catch {
            state = .failed(error)
            throw error
        }
    }

    // Each case either returns or moves to another state and loops.
    private mutating func step(_ input: inout ByteBuffer) throws(HTTPParseError) -> HTTPParserEvent? {
        while true {
            switch state {
            case .idle:
                guard try skipLeadingEmptyLines(&input) else { return nil }
                // The usual case: the whole head is already here, read in one pass.
                if let head = parseWholeHead(&input) { return .head(head) }
                state = .head

            case .head:
                guard try scanLine(&input, limit: limits.maxHeadBytes, tooLong: .headersTooLarge) else { return nil }
                if requestLine == nil {
                    requestLine = try Self.parseRequestLine(line[...])
                } else if line.isEmpty {
                    return .head(try finishHead())
                } else {
                    guard headers.count < limits.maxHeaderCount else { throw .tooManyHeaders }
                    let field = try Self.parseField(line[...])
                    if headers.count == 0 { headers.reserveCapacity(8) }  // one allocation for a usual head
                    if field.ascii {
                        headers.add(line, name: field.name, value: field.value)  // no Strings made
                    } else {
                        // obs-text: decoded as UTF-8, lossily, as before (stored bytes stay UTF-8).
                        headers.add(name: String(decoding: line[field.name], as: UTF8.self),
                                    value: String(decoding: line[field.value], as: UTF8.self))
                    }
                }
                line.removeAll(keepingCapacity: true)

            case .endPending:
                state = .idle
                emptyLinesSkipped = 0
                bodyBytes = 0
                chunkExtensionBytes = 0
                return .end

            case .fixedBody(let remaining):
                guard let piece = Self.readPiece(&input, upTo: remaining) else { return nil }
                state = piece.count == remaining ? .endPending : .fixedBody(remaining: remaining - piece.count)
                return .body(piece)

            case .chunkSizeLine:
                guard try scanLine(&input, limit: Self.maxChunkSizeLineBytes, tooLong: .chunkLineTooLong)
                else { return nil }
                try finishChunkSizeLine()

            case .chunkData(let remaining):
                guard let piece = Self.readPiece(&input, upTo: remaining) else { return nil }
                state = piece.count == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - piece.count)
                return .body(piece)

            case .chunkDataEnd:
                guard try Self.consumeCRLF(&input, orThrow: .badChunkTerminator) else { return nil }
                startChunkSizeLine()

            case .trailers:
                guard try scanLine(&input, limit: limits.maxHeadBytes, tooLong: .headersTooLarge) else { return nil }
                guard try finishTrailerLine() else { break }
                state = .endPending

            case .failed(let error):
                throw error
            }
        }
    }

    /// RFC 9112 §2.2. True once the next byte starts a request line (nothing of it consumed).
    private mutating func skipLeadingEmptyLines(_ input: inout ByteBuffer) throws(HTTPParseError) -> Bool {
        while let first = input.peek(at: 0) {
            switch first {
            case Self.cr:
                guard try Self.consumeCRLF(&input, orThrow: .bareCR) else { return false }
                emptyLinesSkipped += 1
                guard emptyLinesSkipped <= Self.maxLeadingEmptyLines else { throw .tooManyEmptyLines }
            case Self.lf:
                throw .bareLF
            default:
                line.removeAll(keepingCapacity: true)
                lineHasPendingCR = false
                sectionBytes = 0
                return true
            }
        }
        return false
    }

    /// Moves the bytes of the current line from `input` into `line` (without its CRLF) and
    /// returns true when the line is complete. Lines end in CRLF; a bare CR or LF is an error
    /// (RFC 9112 §2.2: accepting them is how parsers disagree). Throws `tooLong` as soon as the
    /// section would pass `limit` bytes, without waiting for the line's end.
    mutating func scanLine(
        _ input: inout ByteBuffer, limit: Int, tooLong: HTTPParseError
    ) throws(HTTPParseError) -> Bool {
        var index = input.readerIndex
        let end = input.storage.count
        defer { input.moveReaderIndex(forwardBy: index - input.readerIndex) }
        while index < end {
            guard sectionBytes < limit else { throw tooLong }
            if lineHasPendingCR {
                let byte = input.storage[index]
                index += 1
                sectionBytes += 1
                guard byte == Self.lf else { throw .bareCR }
                lineHasPendingCR = false
                return true
            }
            // The run of ordinary bytes up to the next CR or LF (or the section's limit) goes
            // into `line` in one copy: appending byte by byte was most of a small request's
            // parsing (perf, S2). Same bytes consumed and same errors as one byte at a time.
            let runEnd = min(end, index + (limit - sectionBytes))
            // Sound: `i` stays below `runEnd` ≤ `end` = storage.count. Tested at and past every
            // limit (HTTPRequestParserLimitsTests) and by FuzzHTTPRequest.
            let stop = input.storage.withUnsafeBufferPointer { bytes in
                var i = index
                while i < runEnd, bytes[i] != Self.cr, bytes[i] != Self.lf { i += 1 }
                return i
            }
            if stop > index {
                line.append(contentsOf: input.storage[index..<stop])
                sectionBytes += stop - index
                index = stop
            }
            guard index < runEnd else { continue }  // out of bytes, or at the limit: the loop decides
            let byte = input.storage[index]
            index += 1
            sectionBytes += 1
            if byte == Self.lf { throw .bareLF }
            lineHasPendingCR = true  // a CR
        }
        return false
    }

    /// Consumes exactly CRLF; false when it has not fully arrived; throws on anything else.
    static func consumeCRLF(_ input: inout ByteBuffer, orThrow error: HTTPParseError) throws(HTTPParseError) -> Bool {
        guard let first = input.peek(at: 0) else { return false }
        guard first == cr else { throw error }
        guard let second = input.peek(at: 1) else { return false }
        guard second == lf else { throw error }
        input.moveReaderIndex(forwardBy: 2)
        return true
    }

    /// Up to `count` readable bytes, nil when there are none (so no empty `.body` is emitted).
    static func readPiece(_ input: inout ByteBuffer, upTo count: Int) -> [UInt8]? {
        let n = min(count, input.readableBytes)
        return n > 0 ? input.readBytes(n) : nil
    }

    // ASCII bytes the grammar talks about.
    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let sp = UInt8(ascii: " ")
    static let htab = UInt8(ascii: "\t")
}
