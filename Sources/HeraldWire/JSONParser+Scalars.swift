/// Strings and numbers, the two scalars with more than one way to go wrong: escapes,
/// surrogate pairs and UTF-8 in strings (RFC 8259 §7, §8.1), the number grammar and its
/// conversion to a Double (§6).
extension JSONParserMachine {
    /// At the opening quote; returns the decoded string with `i` past the closing quote.
    mutating func parseString() throws(JSONParseError) -> String {
        let open = i
        i += 1
        let start = i
        // Fast path: a run without escapes (ASCII and validated UTF-8) is the string itself.
        while i < n {
            let b = bytes[i]
            if b == Self.quote {
                let length = i - start
                guard length <= limits.maxStringBytes else { throw tooLong(open) }
                i += 1
                return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<(i - 1)]), as: UTF8.self)
            }
            if b == Self.backslash || b < 0x20 { break }
            if b < 0x80 {
                i += 1
            } else {
                i += try utf8SequenceLength()
            }
        }
        return try parseEscapedString(open: open, start: start)
    }

    /// The rest of a string from its first escape (or raw control character, or the end).
    mutating func parseEscapedString(open: Int, start: Int) throws(JSONParseError) -> String {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<i]))
        while true {
            guard i < n else {
                throw JSONParseError(offset: n, message: "unterminated string (opened at byte \(open)) at byte \(n)")
            }
            let b = bytes[i]
            if b == Self.quote {
                i += 1
                guard scratch.count <= limits.maxStringBytes else { throw tooLong(open) }
                return String(decoding: scratch, as: UTF8.self)
            }
            if b == Self.backslash {
                try parseEscape()
            } else if b < 0x20 {
                // RFC 8259 §7: U+0000 through U+001F must be escaped.
                throw JSONParseError(offset: i, message: "raw control character \(hexByte(b)) in a string at byte \(i); it must be escaped")
            } else {
                let runStart = i
                while i < n {
                    let c = bytes[i]
                    if c == Self.quote || c == Self.backslash || c < 0x20 { break }
                    if c < 0x80 { i += 1 } else { i += try utf8SequenceLength() }
                }
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
            }
            guard scratch.count <= limits.maxStringBytes else { throw tooLong(open) }
        }
    }

    /// At a backslash: decodes one escape (a surrogate pair counts as one) into `scratch`.
    mutating func parseEscape() throws(JSONParseError) {
        let at = i
        guard i + 1 < n else {
            throw JSONParseError(offset: n, message: "unterminated string at byte \(n)")
        }
        let e = bytes[i + 1]
        i += 2
        switch e {
        case Self.quote: scratch.append(Self.quote)
        case Self.backslash: scratch.append(Self.backslash)
        case UInt8(ascii: "/"): scratch.append(UInt8(ascii: "/"))
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hex4(escapeAt: at)
            if scalar >= 0xDC00 && scalar <= 0xDFFF {
                throw JSONParseError(offset: at, message: "lone low surrogate \\u\(hex4Text(scalar)) at byte \(at)")
            }
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                // RFC 8259 §7: a character outside the BMP is a UTF-16 surrogate pair.
                guard i + 1 < n, bytes[i] == Self.backslash, bytes[i + 1] == UInt8(ascii: "u") else {
                    throw JSONParseError(offset: at, message: "lone high surrogate \\u\(hex4Text(scalar)) at byte \(at), expected a \\uDC00–\\uDFFF escape after it")
                }
                let lowAt = i
                i += 2
                let low = try hex4(escapeAt: lowAt)
                guard low >= 0xDC00 && low <= 0xDFFF else {
                    throw JSONParseError(offset: at, message: "lone high surrogate \\u\(hex4Text(scalar)) at byte \(at), expected a \\uDC00–\\uDFFF escape after it")
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            appendUTF8(scalar)
        default:
            throw JSONParseError(offset: at, message: "invalid escape '\\\(printable(e))' at byte \(at)")
        }
    }

    /// Four hex digits at `i`, for the `\u` escape at `escapeAt`.
    mutating func hex4(escapeAt: Int) throws(JSONParseError) -> UInt32 {
        guard n - i >= 4 else {
            throw JSONParseError(offset: escapeAt, message: "expected 4 hex digits after \\u at byte \(escapeAt)")
        }
        var v: UInt32 = 0
        for k in 0..<4 {
            let c = bytes[i + k]
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default:
                throw JSONParseError(offset: escapeAt, message: "expected 4 hex digits after \\u at byte \(escapeAt)")
            }
            v = v << 4 | UInt32(d)
        }
        i += 4
        return v
    }

    mutating func appendUTF8(_ v: UInt32) {
        switch v {
        case 0..<0x80:
            scratch.append(UInt8(v))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | v >> 6))
            scratch.append(UInt8(0x80 | v & 0x3F))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | v >> 12))
            scratch.append(UInt8(0x80 | (v >> 6) & 0x3F))
            scratch.append(UInt8(0x80 | v & 0x3F))
        default:
            scratch.append(UInt8(0xF0 | v >> 18))
            scratch.append(UInt8(0x80 | (v >> 12) & 0x3F))
            scratch.append(UInt8(0x80 | (v >> 6) & 0x3F))
            scratch.append(UInt8(0x80 | v & 0x3F))
        }
    }

    /// At a byte ≥ 0x80 in a string: the length of the well-formed UTF-8 sequence that starts
    /// there (RFC 3629 §4: no overlong forms, surrogates or code points above U+10FFFF).
    @inline(__always)
    func utf8SequenceLength() throws(JSONParseError) -> Int {
        let b0 = bytes[i]
        let need: Int
        var lo: UInt8 = 0x80
        var hi: UInt8 = 0xBF
        switch b0 {
        case 0xC2...0xDF: need = 1
        case 0xE0: need = 2; lo = 0xA0
        case 0xE1...0xEC, 0xEE, 0xEF: need = 2
        case 0xED: need = 2; hi = 0x9F
        case 0xF0: need = 3; lo = 0x90
        case 0xF1...0xF3: need = 3
        case 0xF4: need = 3; hi = 0x8F
        default: throw invalidUTF8(i)
        }
        guard n - i > need else { throw invalidUTF8(i) }
        let b1 = bytes[i + 1]
        guard b1 >= lo && b1 <= hi else { throw invalidUTF8(i) }
        for k in 2..<(need + 1) where bytes[i + k] & 0xC0 != 0x80 { throw invalidUTF8(i) }
        return need + 1
    }

    /// Powers of ten that are exact Doubles (10^22 is the last one).
    static let exactPowersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]

    /// RFC 8259 §6: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    mutating func parseNumber() throws(JSONParseError) -> Double {
        let start = i
        let negative = bytes[i] == Self.minus
        if negative { i += 1 }
        guard i < n, isDigit(bytes[i]) else { throw expected("a digit after '-'") }
        // Up to 19 digits are gathered exactly in `mantissa`; more send the number to the
        // general conversion.
        var mantissa: UInt64 = 0
        var mantissaDigits = 0
        var exponent = 0
        var exact = true
        if bytes[i] == Self.zero {
            i += 1
            if i < n && isDigit(bytes[i]) {
                throw JSONParseError(offset: start, message: "leading zeros are not allowed in a number at byte \(start)")
            }
        } else {
            while i < n, isDigit(bytes[i]) {
                if mantissaDigits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(bytes[i] &- Self.zero)
                    mantissaDigits += 1
                } else {
                    exact = false
                }
                i += 1
            }
        }
        if i < n && bytes[i] == Self.dot {
            i += 1
            guard i < n, isDigit(bytes[i]) else { throw expected("a digit after '.'") }
            while i < n, isDigit(bytes[i]) {
                if mantissaDigits < 19 {
                    mantissa = mantissa &* 10 &+ UInt64(bytes[i] &- Self.zero)
                    if mantissa != 0 { mantissaDigits += 1 }
                    exponent -= 1
                } else {
                    exact = false
                }
                i += 1
            }
        }
        if i < n && (bytes[i] | 0x20) == UInt8(ascii: "e") {
            i += 1
            var exponentNegative = false
            if i < n && (bytes[i] == Self.plus || bytes[i] == Self.minus) {
                exponentNegative = bytes[i] == Self.minus
                i += 1
            }
            guard i < n, isDigit(bytes[i]) else { throw expected("a digit in the exponent") }
            var e = 0
            while i < n, isDigit(bytes[i]) {
                // Saturates: beyond 10^6 the value is 0 or out of range either way.
                if e < 1_000_000 { e = e * 10 + Int(bytes[i] &- Self.zero) }
                i += 1
            }
            exponent += exponentNegative ? -e : e
        }

        // Exact fast path (Clinger): an integer mantissa ≤ 2^53 times or divided by an exact
        // power of ten is one correctly rounded operation.
        if exact && mantissa <= 1 << 53 && exponent >= -22 && exponent <= 22 {
            var d = Double(mantissa)
            if exponent > 0 {
                d *= Self.exactPowersOfTen[exponent]
            } else if exponent < 0 {
                d /= Self.exactPowersOfTen[-exponent]
            }
            return negative ? -d : d
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        guard let d = Double(text), d.isFinite else {
            throw JSONParseError(offset: start, message: "number out of range at byte \(start)")
        }
        return d
    }

    @inline(__always)
    func isDigit(_ b: UInt8) -> Bool { b &- Self.zero < 10 }
}
