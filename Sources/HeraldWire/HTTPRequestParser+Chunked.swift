// The chunked transfer coding of HTTPRequestParser (RFC 9112 §7.1).
extension HTTPRequestParser {
    /// A chunk-size line, CRLF included. 16 hex digits plus room for extensions; nothing we
    /// accept needs more, and it bounds what one line can make us buffer.
    static let maxChunkSizeLineBytes = 4 * 1024
    /// chunk-size is at most 16 hex digits: 64 bits, more than any body we accept.
    static let maxChunkSizeDigits = 16
    /// Chunk extensions over a whole body, in bytes. We ignore them, so this bounds the work a
    /// client can make us do for nothing (a 1-byte chunk per 4 KiB extension line otherwise).
    static let maxChunkExtensionBytes = 16 * 1024

    mutating func startChunkSizeLine() {
        line.removeAll(keepingCapacity: true)
        lineHasPendingCR = false
        sectionBytes = 0
        state = .chunkSizeLine
    }

    /// `chunk-size [ chunk-ext ]`: moves to the chunk's data, or to the trailer section after
    /// the last chunk (`0`).
    mutating func finishChunkSizeLine() throws(HTTPParseError) {
        var index = 0
        var size = 0
        while index < line.count, let digit = PercentDecoding.hexValue(line[index]) {
            guard index < Self.maxChunkSizeDigits else { throw .badChunkSize }
            size = size << 4 | Int(digit)  // 16 digits fit in 64 bits; the sign is checked below
            index += 1
        }
        // Empty, signed, ` 5`, `0x5`: not 1*HEXDIG; a 16-digit size past Int.max: overflow.
        guard index > 0, size >= 0 else { throw .badChunkSize }
        let extensions = line[index...]
        if let first = extensions.first {
            // Only BWS or `;` may follow the digits (`5 `, `5x`, `1 0` are not sizes).
            guard first == Self.sp || first == Self.htab || first == UInt8(ascii: ";"),
                extensions.contains(UInt8(ascii: ";"))
            else { throw .badChunkSize }
            guard Self.isValidChunkExtensions(extensions) else { throw .badChunkExtension }
            chunkExtensionBytes += extensions.count
            guard chunkExtensionBytes <= Self.maxChunkExtensionBytes else { throw .chunkExtensionsTooLarge }
        }
        line.removeAll(keepingCapacity: true)

        if size == 0 {
            sectionBytes = 0
            trailerCount = 0
            state = .trailers
            return
        }
        guard size <= limits.maxBodyBytes - bodyBytes else { throw .bodyTooLarge }
        bodyBytes += size
        state = .chunkData(remaining: size)
    }

    /// One line of the trailer section; true at its final empty line. Trailer fields are checked
    /// like header fields and held to the same limits, then ignored (RFC 9112 §7.1.2: a server
    /// may discard them; none of ours matter).
    mutating func finishTrailerLine() throws(HTTPParseError) -> Bool {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty { return true }
        guard trailerCount < limits.maxHeaderCount else { throw .tooManyHeaders }
        _ = try Self.parseField(line[...])
        trailerCount += 1
        return false
    }

    /// `*( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] )` (RFC 9112 §7.1.1).
    static func isValidChunkExtensions(_ ext: ArraySlice<UInt8>) -> Bool {
        var i = ext.startIndex
        let end = ext.endIndex
        func isBWS(_ c: UInt8) -> Bool { c == sp || c == htab }

        while i < end {
            while i < end, isBWS(ext[i]) { i += 1 }
            guard i < end, ext[i] == UInt8(ascii: ";") else { return false }
            i += 1
            while i < end, isBWS(ext[i]) { i += 1 }
            let nameStart = i
            while i < end, isTokenChar(ext[i]) { i += 1 }
            guard i > nameStart else { return false }

            // BWS belongs to a following `=`; otherwise the next round wants `;` after it.
            var j = i
            while j < end, isBWS(ext[j]) { j += 1 }
            guard j < end, ext[j] == UInt8(ascii: "=") else { continue }
            i = j + 1
            while i < end, isBWS(ext[i]) { i += 1 }
            guard i < end else { return false }
            if ext[i] == UInt8(ascii: "\"") {
                guard let after = quotedStringEnd(ext, from: i) else { return false }
                i = after
            } else {
                let valueStart = i
                while i < end, isTokenChar(ext[i]) { i += 1 }
                guard i > valueStart else { return false }
            }
        }
        return true
    }

    /// The index after the quoted-string starting at `start` (RFC 9110 §5.6.4), or nil.
    static func quotedStringEnd(_ s: ArraySlice<UInt8>, from start: Int) -> Int? {
        var i = start + 1
        while i < s.endIndex {
            let c = s[i]
            switch c {
            case UInt8(ascii: "\""):
                return i + 1
            case UInt8(ascii: "\\"):
                // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
                guard i + 1 < s.endIndex, s[i + 1] == htab || s[i + 1] >= 0x20 && s[i + 1] != 0x7F else { return nil }
                i += 2
            case htab, 0x20...0x7E, 0x80...0xFF:
                // qdtext: HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text (`"` and `\` handled above)
                i += 1
            default:
                return nil
            }
        }
        return nil
    }
}
