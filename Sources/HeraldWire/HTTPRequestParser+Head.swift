// The request line, header fields and body framing of HTTPRequestParser (RFC 9112 §3, §5, §6).
extension HTTPRequestParser {
    struct RequestLine: Sendable, Equatable {
        var method: String
        /// As sent.
        var target: String
        /// The origin-form part (`/path?query`: the target itself, or what follows the authority
        /// of an absolute-form target) up to the first `?`, and what follows that `?`.
        var path: String
        var query: String?
        var version: HTTPVersion
    }

    /// `method SP request-target SP HTTP-version`, exactly single spaces (RFC 9112 §3).
    /// `line` is the line without its CRLF: the line-by-line path's buffer, or a slice of the
    /// whole-head path's copy of the head.
    static func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> RequestLine {
        // Split at the two spaces by hand: `split` allocated an array per request.
        guard let firstSpace = line.firstIndex(of: sp) else { throw .badRequestLine }
        guard let secondSpace = line[(firstSpace + 1)...].firstIndex(of: sp) else { throw .badRequestLine }
        let methodBytes = line[..<firstSpace]
        let targetBytes = line[(firstSpace + 1)..<secondSpace]
        let versionBytes = line[(secondSpace + 1)...]
        guard !methodBytes.isEmpty, !targetBytes.isEmpty, !versionBytes.isEmpty, !versionBytes.contains(sp)
        else { throw .badRequestLine }

        // RFC 9110 §9.1: method = token, case-sensitive, kept as sent.
        guard methodBytes.allSatisfy(isTokenChar) else { throw .badMethod }
        let method = knownMethod(methodBytes) ?? String(decoding: methodBytes, as: UTF8.self)
        let version = try parseVersion(versionBytes)
        let (target, path, query) = try parseTarget(targetBytes, method: method)
        return RequestLine(method: method, target: target, path: path, query: query, version: version)
    }

    /// The usual methods as literals (no String decoded); nil for any other.
    static func knownMethod(_ bytes: ArraySlice<UInt8>) -> String? {
        let b = bytes.startIndex  // every index read below is below b + bytes.count
        func at(_ i: Int, _ c: Unicode.Scalar) -> Bool { bytes[b + i] == UInt8(ascii: c) }
        switch bytes.count {
        case 3:
            if at(0, "G") && at(1, "E") && at(2, "T") { return "GET" }
            if at(0, "P") && at(1, "U") && at(2, "T") { return "PUT" }
        case 4:
            if at(0, "P") && at(1, "O") && at(2, "S") && at(3, "T") { return "POST" }
            if at(0, "H") && at(1, "E") && at(2, "A") && at(3, "D") { return "HEAD" }
        case 6:
            if at(0, "D") && at(1, "E") && at(2, "L") && at(3, "E") && at(4, "T") && at(5, "E") { return "DELETE" }
        default:
            break
        }
        return nil
    }

    /// RFC 9112 §2.3: `HTTP/` DIGIT `.` DIGIT, case-sensitive. Well-formed but not 1.0/1.1 → 505.
    static func parseVersion(_ bytes: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPVersion {
        let b = bytes.startIndex  // a slice keeps the line's indices
        // Byte by byte: `elementsEqual` with "HTTP/".utf8 was ~300 instructions a request (S2).
        guard bytes.count == 8, bytes[b] == UInt8(ascii: "H"), bytes[b + 1] == UInt8(ascii: "T"),
            bytes[b + 2] == UInt8(ascii: "T"), bytes[b + 3] == UInt8(ascii: "P"), bytes[b + 4] == UInt8(ascii: "/"),
            isDigit(bytes[b + 5]),
            bytes[b + 6] == UInt8(ascii: "."), isDigit(bytes[b + 7])
        else { throw .badVersion }
        let (major, minor) = (bytes[b + 5], bytes[b + 7])
        let version = HTTPVersion(major: Int(major - UInt8(ascii: "0")), minor: Int(minor - UInt8(ascii: "0")))
        guard version == .http1_1 || version == .http1_0 else { throw .versionNotSupported }
        return version
    }

    /// RFC 9112 §3.2: origin-form (`/p?q`), absolute-form (`http://host/p?q`, path and query kept
    /// from it), or asterisk-form for OPTIONS only. Authority-form (CONNECT) is not served.
    /// Only visible ASCII; a fragment (`#`) or userinfo (`@` in the authority, RFC 9110 §4.2.4)
    /// is refused rather than guessed about.
    static func parseTarget(
        _ bytes: ArraySlice<UInt8>, method: String
    ) throws(HTTPParseError) -> (target: String, path: String, query: String?) {
        // One pass for the check and the first `?` (the path/query split was a second one, on
        // the target's UTF8View: ~300 instructions a request, S2).
        var question: Int?
        for i in bytes.indices {
            let c = bytes[i]
            guard c > 0x20 && c < 0x7F && c != UInt8(ascii: "#") else { throw .badTarget }
            if c == UInt8(ascii: "?") && question == nil { question = i }
        }
        let target = String(decoding: bytes, as: UTF8.self)
        if bytes.first == UInt8(ascii: "/") {
            guard let q = question else { return (target, target, nil) }
            return (target, String(decoding: bytes[..<q], as: UTF8.self),
                    String(decoding: bytes[(q + 1)...], as: UTF8.self))
        }
        if target == "*" {
            guard method == "OPTIONS" else { throw .badTarget }
            return (target, target, nil)
        }
        let lower = target.lowercased()
        let schemeLength: Int
        if lower.hasPrefix("http://") {
            schemeLength = 7
        } else if lower.hasPrefix("https://") {
            schemeLength = 8
        } else {
            throw .badTarget
        }
        let afterScheme = target.utf8.dropFirst(schemeLength)
        let pathStart = afterScheme.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") }
            ?? afterScheme.endIndex
        let authority = afterScheme[..<pathStart]
        guard !authority.isEmpty, !authority.contains(UInt8(ascii: "@")) else { throw .badTarget }
        let rest = String(decoding: afterScheme[pathStart...], as: UTF8.self)
        let originForm = rest.hasPrefix("/") ? rest : "/" + rest
        // Visible ASCII (checked above), so the `?` is found on the bytes.
        guard let q = originForm.utf8.firstIndex(of: UInt8(ascii: "?")) else { return (target, originForm, nil) }
        return (target, String(originForm[..<q]), String(originForm[originForm.utf8.index(after: q)...]))
    }

    /// `field-name ":" OWS field-value OWS` (RFC 9112 §5). Leading/trailing OWS is trimmed;
    /// the value may hold HTAB, visible ASCII and obs-text (decoded as UTF-8, lossily, by the
    /// caller when `ascii` is false), no other CTL. Returns where the name and value are in `line`
    /// (the slice's own indices: within the head's copy on the whole-head path).
    static func parseField(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> (name: Range<Int>, value: Range<Int>, ascii: Bool) {
        // On the contiguous bytes: the slice's `firstIndex`, `allSatisfy` and bounds-checked
        // subscripts were ~450 instructions per field (callgrind, S2). Same checks, same order.
        let parts = line.withUnsafeBufferPointer { bytes in Self.fieldParts(bytes) }
        switch parts {
        case .failure(let error):
            throw error
        case .success(let (colon, start, end, ascii)):
            let base = line.startIndex
            return (base..<(base + colon), (base + start)..<(base + end), ascii)
        }
    }

    /// `parseField` on the line's bytes: where the colon is and the trimmed value's bounds.
    private static func fieldParts(
        _ bytes: UnsafeBufferPointer<UInt8>
    ) -> Result<(colon: Int, start: Int, end: Int, ascii: Bool), HTTPParseError> {
        // Sound: every index read is below `n = bytes.count` (`colon < n` is checked before the
        // name is read; `start < end ≤ n` and `end - 1 ≥ start` in the trims and the value).
        let n = bytes.count
        // RFC 9112 §5.2: obs-fold (and §2.2: whitespace before the first field) is refused.
        guard n > 0, bytes[0] != sp, bytes[0] != htab else { return .failure(.obsFold) }
        var colon = 0
        while colon < n && bytes[colon] != UInt8(ascii: ":") { colon += 1 }
        guard colon < n else { return .failure(.badHeaderLine) }
        // RFC 9112 §5.1: no whitespace between the name and the colon, MUST be 400.
        if colon > 0 && (bytes[colon - 1] == sp || bytes[colon - 1] == htab) { return .failure(.spaceBeforeColon) }
        guard colon > 0 else { return .failure(.badHeaderName) }
        for i in 0..<colon where !isTokenChar(bytes[i]) { return .failure(.badHeaderName) }
        var start = colon + 1
        var end = n
        while start < end && (bytes[start] == sp || bytes[start] == htab) { start += 1 }
        while end > start && (bytes[end - 1] == sp || bytes[end - 1] == htab) { end -= 1 }
        // RFC 9110 §5.5: NUL, CR, LF (and every other CTL but HTAB) are not allowed in a value.
        var ascii = true
        for i in start..<end {
            let c = bytes[i]
            if c &- 0x20 < 0x5F { continue }  // SP or visible ASCII (0x20–0x7E): the usual byte, one test
            // Else allowed: HTAB, obs-text (≥ 0x80); not: every other CTL (< 0x20, 0x7F).
            guard c == htab || c >= 0x80 else { return .failure(.badHeaderValue) }
            if c >= 0x80 { ascii = false }
        }
        return .success((colon, start, end, ascii))
    }

    /// Validates Host and the body framing, resets the head state, and moves on to the body.
    mutating func finishHead() throws(HTTPParseError) -> HTTPRequestHead {
        guard let requestLine else { throw .badRequestLine }  // unreachable: the first line set it
        let framing = try Self.bodyFraming(headers: headers, version: requestLine.version, limits: limits)
        let head = HTTPRequestHead(
            method: requestLine.method, target: requestLine.target, path: requestLine.path, query: requestLine.query,
            version: requestLine.version, headers: headers, bodyFraming: framing)

        self.requestLine = nil
        headers = HTTPHeaders()
        line.removeAll(keepingCapacity: true)
        startBody(framing)
        return head
    }

    /// After a head: the body its framing gives, or `.end` next.
    mutating func startBody(_ framing: HTTPBodyFraming) {
        switch framing {
        case .none, .contentLength(0): state = .endPending
        case .contentLength(let n): state = .fixedBody(remaining: n)
        case .chunked: startChunkSizeLine()
        }
    }

    /// RFC 9112 §3.2 (Host) and §6.3 (message body length), strictest reading.
    static func bodyFraming(
        headers: HTTPHeaders, version: HTTPVersion, limits: HTTPParserLimits
    ) throws(HTTPParseError) -> HTTPBodyFraming {
        // RFC 9112 §3.2: a 1.1 request without Host, or any request with several, MUST be 400.
        let (hosts, hasTransferEncoding, lengthCount, lengthValue) = headers.framingFields()
        if hosts > 1 { throw .duplicateHost }
        if hosts == 0 && version == .http1_1 { throw .missingHost }

        // The usual case, one Content-Length of plain digits, without building lists: what the
        // general path below does for it, step by step.
        if !hasTransferEncoding, lengthCount == 1, let value = lengthValue,
            !value.isEmpty, value.allSatisfy(isDigit) {
            guard let length = parseDecimal(value) else { throw .badContentLength }
            guard length <= limits.maxBodyBytes else { throw .bodyTooLarge }
            return .contentLength(length)
        }
        if !hasTransferEncoding && lengthCount == 0 { return .none }

        let contentLengths = headers.values(name: "content-length")
        if hasTransferEncoding {
            // RFC 9112 §6.1: a 1.0 recipient may not understand chunked; treat framing as faulty.
            if version == .http1_0 { throw .teInHTTP10 }
            // §6.1: TE with CL is the classic smuggling vector; refuse rather than let TE win.
            if !contentLengths.isEmpty { throw .teAndCL }
            let codings = headers.tokens(name: "transfer-encoding")
            // §6.3: chunked not final (`gzip`, `chunked, gzip`) MUST be 400: the length is unknown.
            guard codings.last == "chunked" else { throw .chunkedNotFinal }
            // Chunked is final but something else is applied too (`gzip, chunked`,
            // `chunked, chunked`): well framed, but a coding we do not decode → 501 (§6.1).
            guard codings.count == 1 else { throw .unsupportedTransferEncoding }
            return .chunked
        }
        guard !contentLengths.isEmpty else { return .none }
        // §6.3 allows folding identical repeated values into one; we refuse every repeat instead
        // (`5, 5` or two fields), since a proxy in front may have taken either one.
        let elements = contentLengths.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
        var length = 0
        for element in elements {
            guard let n = parseDecimal(element.trimmingHTTPWhitespace().utf8) else { throw .badContentLength }
            length = n
        }
        guard elements.count == 1 else { throw .conflictingContentLength }
        guard length <= limits.maxBodyBytes else { throw .bodyTooLarge }
        return .contentLength(length)
    }

    /// 1*DIGIT with no sign or space; nil when empty, not digits, or past Int.max.
    static func parseDecimal<C: Collection>(_ digits: C) -> Int? where C.Element == UInt8 {
        guard !digits.isEmpty else { return nil }
        var value = 0
        for c in digits {
            guard isDigit(c) else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(Int(c - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = sum
        }
        return value
    }

    static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    /// tchar (RFC 9110 §5.6.2): visible ASCII except the delimiters `"(),/:;<=>?@[\]{}`.
    /// One bit per byte in two masks (a `switch` of ranges was ~10 instructions a byte, on
    /// every byte of every field name); `HTTPWholeHeadEquivalenceTests` checks all 256 bytes.
    static func isTokenChar(_ c: UInt8) -> Bool {
        // Bits 0x21 ! 0x23–0x27 #$%&' 0x2A–0x2B *+ 0x2D–0x2E -. 0x30–0x39 digits.
        let below64: UInt64 = 0x03FF_6CFA_0000_0000
        // Bits (c − 64): A–Z, ^ _ ` a–z | ~.
        let from64: UInt64 = 0x57FF_FFFF_C7FF_FFFE
        if c < 64 { return below64 >> UInt64(c) & 1 != 0 }
        if c < 128 { return from64 >> UInt64(c - 64) & 1 != 0 }
        return false
    }
}
