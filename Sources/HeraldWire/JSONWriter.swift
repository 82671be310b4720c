/// Writes `JSONValue`s as compact JSON text (RFC 8259): no whitespace, members in their
/// order, non-ASCII as UTF-8. The task actor encodes every event once with it, so it appends
/// into a caller's buffer and copies plain string runs whole.
public enum JSONWriter {
    /// 2^53: above it not every integer is a Double, so integers are written exactly only
    /// below it (JavaScript's Number.MAX_SAFE_INTEGER + 1).
    static let maxExactInteger: Double = 9_007_199_254_740_992

    public static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: append("null", to: &out)
        case .bool(let b): append(b ? "true" : "false", to: &out)
        case .number(let d): writeNumber(d, into: &out)
        case .string(let s): writeString(s, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            var first = true
            for element in elements {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                write(element, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            var first = true
            for member in object.members {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeString(member.key, into: &out)
                out.append(UInt8(ascii: ":"))
                write(member.value, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// `s` as a JSON string literal, quotes included. Escapes what RFC 8259 §7 requires
    /// (`"`, `\`, U+0000–U+001F, with the short forms where there is one) and U+2028/U+2029,
    /// which JSON allows raw but JavaScript before ES2019 does not, so the output can be
    /// embedded in a script. Everything else, non-ASCII included, is copied as UTF-8.
    public static func writeString(_ s: String, into out: inout [UInt8]) {
        var s = s
        s.withUTF8 { writeString(utf8: $0, into: &out) }
    }

    static func writeString(utf8 bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        out.reserveCapacity(out.count + bytes.count + 2)
        out.append(UInt8(ascii: "\""))
        let n = bytes.count
        var runStart = 0
        var i = 0
        while i < n {
            let b = bytes[i]
            // Fast path: everything but '"', '\', controls and 0xE2 (lead byte of U+2028/9)
            // is copied as part of a run.
            if b >= 0x20 && b != 0x22 && b != 0x5C && b != 0xE2 {
                i += 1
                continue
            }
            if b == 0xE2 {
                // U+2028 is E2 80 A8, U+2029 is E2 80 A9.
                guard i + 2 < n, bytes[i + 1] == 0x80, bytes[i + 2] == 0xA8 || bytes[i + 2] == 0xA9 else {
                    i += 1
                    continue
                }
                flush(bytes, runStart, i, into: &out)
                append(bytes[i + 2] == 0xA8 ? "\\u2028" : "\\u2029", to: &out)
                i += 3
                runStart = i
                continue
            }
            flush(bytes, runStart, i, into: &out)
            switch b {
            case 0x22: append("\\\"", to: &out)
            case 0x5C: append("\\\\", to: &out)
            case 0x08: append("\\b", to: &out)
            case 0x0C: append("\\f", to: &out)
            case 0x0A: append("\\n", to: &out)
            case 0x0D: append("\\r", to: &out)
            case 0x09: append("\\t", to: &out)
            default:
                append("\\u00", to: &out)
                out.append(hexDigit(b >> 4))
                out.append(hexDigit(b & 0xF))
            }
            i += 1
            runStart = i
        }
        flush(bytes, runStart, n, into: &out)
        out.append(UInt8(ascii: "\""))
    }

    /// Integral values below 2^53 as plain integers (`42`, `-7`, `0`; -0 as `0`), other finite
    /// values in the shortest form that reads back as the same Double (`0.1`, `1e-07`,
    /// `1.2345678901234568e+20`). NaN and ±infinity have no JSON form (RFC 8259 §6) and are
    /// written as `null`, as JavaScript's JSON.stringify does.
    public static func writeNumber(_ d: Double, into out: inout [UInt8]) {
        guard d.isFinite else {
            append("null", to: &out)
            return
        }
        if d.magnitude < maxExactInteger, d.rounded(.towardZero) == d {
            writeInteger(Int64(d), into: &out)
            return
        }
        // Swift's description is the shortest round-trip form and always valid JSON for
        // finite values ("1e-07", "1e+16", "0.1"). An integral value between 2^53 and 1e16
        // comes as "9007199254740992.0"; the ".0" adds nothing, so it is dropped.
        var text = d.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        out.append(contentsOf: text.utf8)
    }

    /// `d` rounded to `places` (1…3) decimal places, written exactly as `writeNumber` writes
    /// that rounded value (tested over every value in ±200 at each scale and random larger
    /// ones), but from its digits instead of `Double.description` and a `String` (a task's
    /// `percent`, `rate` and `eta_s` at every report). Below 10^9 the rounded value is k/10^p
    /// with at most 15 significant digits, so that decimal is the one shortest form that reads
    /// back to it; anything larger (or not finite) goes through `writeNumber`.
    public static func writeRounded(_ d: Double, places: Int, into out: inout [UInt8]) {
        precondition((1...3).contains(places), "1 to 3 decimal places")
        let scale = roundingScales[places]
        let scaled = (d * scale).rounded()
        let rounded = scaled / scale
        guard rounded.magnitude < 1e9, rounded.rounded(.towardZero) != rounded else {
            writeNumber(rounded, into: &out)  // an integer, large, or not finite
            return
        }
        let k = Int64(scaled)
        let divisor = Int64(scale)
        if k < 0 { out.append(UInt8(ascii: "-")) }
        writeInteger(Int64(k.magnitude) / divisor, into: &out)
        out.append(UInt8(ascii: "."))
        var fraction = Int64(k.magnitude) % divisor
        var digits = places
        while fraction % 10 == 0 {  // not 0: the value is not an integer
            fraction /= 10
            digits -= 1
        }
        var power = Int64(roundingScales[digits - 1])
        while power >= 1 {
            out.append(UInt8(ascii: "0") &+ UInt8(fraction / power % 10))
            power /= 10
        }
    }

    private static let roundingScales: [Double] = [1, 10, 100, 1000]

    public static func encode(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        write(value, into: &out)
        return out
    }

    public static func encodeString(_ value: JSONValue) -> String {
        String(decoding: encode(value), as: UTF8.self)
    }

    // MARK: - Helpers

    static func writeInteger(_ v: Int64, into out: inout [UInt8]) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var m = v.magnitude
        if m < 10 {
            out.append(UInt8(ascii: "0") &+ UInt8(m))
            return
        }
        // At most 16 digits below 2^53; written backwards into a small stack tuple.
        var digits: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buffer in
            var i = buffer.count
            while m > 0 {
                i -= 1
                buffer[i] = UInt8(ascii: "0") &+ UInt8(m % 10)
                m /= 10
            }
            out.append(contentsOf: buffer[i...])
        }
    }

    @inline(__always)
    static func flush(_ bytes: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int, into out: inout [UInt8]) {
        if to > from { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[from..<to])) }
    }

    @inline(__always)
    static func append(_ s: StaticString, to out: inout [UInt8]) {
        s.withUTF8Buffer { out.append(contentsOf: $0) }
    }


    @inline(__always)
    static func hexDigit(_ v: UInt8) -> UInt8 {
        v < 10 ? UInt8(ascii: "0") &+ v : UInt8(ascii: "a") &+ (v &- 10)
    }
}
