// The whole-head path of HTTPRequestParser (issue 18): when one read brought the whole head,
// it is read in one pass from the input instead of line by line through `line`.
extension HTTPRequestParser {
    /// The request's head when `input` already holds all of it, up to and including the empty
    /// line (the usual case: one read brings a whole small request). The head's bytes are
    /// copied once, into the headers' storage, and each field is located in that copy (no copy
    /// per line or per field). The request line and every field go through the line-by-line
    /// path's own `parseRequestLine`, `parseField` and `bodyFraming`.
    ///
    /// Nil, with nothing consumed and no state changed, whenever the head is not all there or
    /// is anything but a plain ASCII head that path accepts: past `maxHeadBytes` or
    /// `maxHeaderCount`, a bare CR or LF, a byte ≥ 0x80 (obs-text, decoded lossily there), or
    /// any refusal. The line-by-line path then reads it from its first byte and answers exactly
    /// as it always did (`HTTPWholeHeadEquivalenceTests` holds the two paths to the same
    /// events, errors and consumed bytes).
    mutating func parseWholeHead(_ input: inout ByteBuffer) -> HTTPRequestHead? {
        guard wholeHeadPath else { return nil }
        let start = input.readerIndex
        // The line-by-line path refuses a head once it passes `maxHeadBytes` (leading empty
        // lines, already skipped, not counted): one that ends within it is accepted.
        let window = min(input.storage.count - start, limits.maxHeadBytes)
        guard window > 0 else { return nil }
        // 1. Where the head ends and how many lines it has; nil unless every line ends in CRLF
        // and every byte is ASCII.
        let found: (end: Int, lines: Int)? = input.storage.withUnsafeBufferPointer { all in
            // Sound: `i < stop` and `stop = start + window ≤ storage.count = all.count`;
            // `all[i + 1]` is read only after `i + 1 < stop` is checked, and a word of 8 bytes
            // only when `i + 8 ≤ stop`.
            let raw = UnsafeRawBufferPointer(all)
            let stop = start + window
            var i = start
            var lineStart = start
            var lines = 0
            while i < stop {
                // Eight ordinary bytes at a time (most of a head); byte by byte through a word
                // that holds a CR, an LF or a byte ≥ 0x80.
                if i + 8 <= stop && !Self.hasLineEndOrHighByte(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) {
                    i += 8
                    continue
                }
                let wordEnd = min(i + 8, stop)
                while i < wordEnd {
                    let c = all[i]
                    if c == Self.cr {
                        guard i + 1 < stop, all[i + 1] == Self.lf else { return nil }
                        if i == lineStart { return (i + 2, lines) }  // the empty line
                        lines += 1
                        i += 2
                        lineStart = i
                    } else if c == Self.lf || c >= 0x80 {
                        return nil
                    } else {
                        i += 1
                    }
                }
            }
            return nil
        }
        // The first line is never empty: `skipLeadingEmptyLines` stopped at a byte not CR/LF.
        guard let found, found.lines >= 1, found.lines - 1 <= limits.maxHeaderCount else { return nil }

        // 2. One copy of the head; each line found again in it. Every CR in it ends a line
        // (step 1), and it ends with the empty line's CRLF, so each scan below stops in range.
        let head = Array(input.storage[start..<found.end])
        /// Where the line starting at `i` ends (its CR).
        func lineEnd(from i: Int) -> Int {
            head.withUnsafeBufferPointer { bytes in
                // Sound: `i` is a line's start and every line in `head` ends in CRLF (step 1),
                // so a CR comes before `bytes.count`.
                var end = i
                while bytes[end] != Self.cr { end += 1 }
                return end
            }
        }
        do {
            var end = lineEnd(from: 0)
            let requestLine = try Self.parseRequestLine(head[0..<end])
            var spans: [HTTPHeaders.Span] = []
            spans.reserveCapacity(found.lines - 1)
            var lineStart = end + 2
            while head[lineStart] != Self.cr {
                end = lineEnd(from: lineStart)
                let field = try Self.parseField(head[lineStart..<end])
                guard field.ascii else { return nil }  // unreachable: step 1 took ASCII only
                spans.append(HTTPHeaders.Span(
                    start: field.name.lowerBound, nameEnd: field.name.upperBound,
                    valueStart: field.value.lowerBound, end: field.value.upperBound))
                lineStart = end + 2
            }
            let headers = HTTPHeaders(parsed: head, spans: spans)
            let framing = try Self.bodyFraming(headers: headers, version: requestLine.version, limits: limits)
            input.moveReaderIndex(forwardBy: found.end - start)
            startBody(framing)
            return HTTPRequestHead(
                method: requestLine.method, target: requestLine.target, path: requestLine.path, query: requestLine.query,
                version: requestLine.version, headers: headers, bodyFraming: framing)
        } catch {
            return nil  // a refusal: the line-by-line path reads the head again and throws it
        }
    }

    /// Whether one of the 8 bytes in `word` is CR, LF or ≥ 0x80 (exact: the classic "has a
    /// zero byte" test, `(x − 0x01…) & ~x & 0x80…`, on the word XOR CRs and XOR LFs).
    static func hasLineEndOrHighByte(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        func hasZeroByte(_ x: UInt64) -> Bool { (x &- ones) & ~x & highs != 0 }
        return word & highs != 0 || hasZeroByte(word ^ (ones &* UInt64(cr))) || hasZeroByte(word ^ (ones &* UInt64(lf)))
    }
}
