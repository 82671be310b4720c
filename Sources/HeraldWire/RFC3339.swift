/// RFC 3339 UTC timestamps with milliseconds, e.g. `2026-11-23T20:10:05.123Z`, from and to
/// milliseconds since 1970. Pure arithmetic, like `HTTPDate`.
public enum RFC3339 {
    public static func format(millisecondsSince1970 ms: Int64) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(24)
        write(millisecondsSince1970: ms, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// `format`'s text appended to `out`, digit by digit: every task event writes five or six
    /// of these, and building each through Strings was a measurable part of a progress report.
    public static func write(millisecondsSince1970 ms: Int64, into out: inout [UInt8]) {
        let totalSeconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let millis = Int(ms - totalSeconds * 1000)
        let t = Int(totalSeconds)
        let days = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
        let secs = t - days * 86_400
        let (y, m, d) = HTTPDate.civil(fromDays: days)
        if (0..<10_000).contains(y) {
            writeFixed(y, m, d, secs, millis, into: &out)
            return
        }
        pad(y, 4, &out)
        out.append(UInt8(ascii: "-"))
        pad(m, 2, &out)
        out.append(UInt8(ascii: "-"))
        pad(d, 2, &out)
        out.append(UInt8(ascii: "T"))
        pad(secs / 3600, 2, &out)
        out.append(UInt8(ascii: ":"))
        pad(secs / 60 % 60, 2, &out)
        out.append(UInt8(ascii: ":"))
        pad(secs % 60, 2, &out)
        out.append(UInt8(ascii: "."))
        pad(millis, 3, &out)
        out.append(UInt8(ascii: "Z"))
    }

    /// Parses what `format` writes (`Z` only, fraction of 0–9 digits); nil otherwise.
    public static func parse(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        guard b.count >= 20, b.last == UInt8(ascii: "Z"), b[4] == 45, b[7] == 45, b[10] == 84, b[13] == 58, b[16] == 58 else { return nil }
        func num(_ r: Range<Int>) -> Int? {
            var v = 0
            for i in r {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16),
              let sec = num(17..<19), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, sec < 61 else { return nil }
        var millis = 0
        if b.count > 20 {
            guard b[19] == 46, b.count - 21 >= 1, b.count - 21 <= 9, let frac = num(20..<(b.count - 1)) else { return nil }
            var f = frac
            var digits = b.count - 21
            while digits > 3 { f /= 10; digits -= 1 }
            while digits < 3 { f *= 10; digits += 1 }
            millis = f
        } else if b.count != 20 {
            return nil
        }
        let days = HTTPDate.days(fromCivil: y, mo, d)
        return Int64(days * 86_400 + h * 3600 + mi * 60 + sec) * 1000 + Int64(millis)
    }

    /// `v` in decimal, zero-padded to `width` digits (wider values, and the sign of a negative
    /// one, as `String(v)` writes them: what the String-based version produced).
    /// The 24 bytes of a four-digit year's timestamp, made on the stack and appended at once
    /// (one capacity check instead of 24: five or six of these per task event).
    private static func writeFixed(_ y: Int, _ m: Int, _ d: Int, _ secs: Int, _ millis: Int, into out: inout [UInt8]) {
        var text: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &text) { b in
            func digits(_ v: Int, _ at: Int, _ width: Int) {
                var v = v
                for k in stride(from: at + width - 1, through: at, by: -1) {
                    b[k] = UInt8(ascii: "0") &+ UInt8(v % 10)
                    v /= 10
                }
            }
            digits(y, 0, 4)
            b[4] = UInt8(ascii: "-")
            digits(m, 5, 2)
            b[7] = UInt8(ascii: "-")
            digits(d, 8, 2)
            b[10] = UInt8(ascii: "T")
            digits(secs / 3600, 11, 2)
            b[13] = UInt8(ascii: ":")
            digits(secs / 60 % 60, 14, 2)
            b[16] = UInt8(ascii: ":")
            digits(secs % 60, 17, 2)
            b[19] = UInt8(ascii: ".")
            digits(millis, 20, 3)
            b[23] = UInt8(ascii: "Z")
            out.append(contentsOf: b)
        }
    }

    static func pad(_ v: Int, _ width: Int, _ out: inout [UInt8]) {
        // The usual fields (2-digit parts, milliseconds, a 4-digit year): digits straight out.
        let zero = UInt8(ascii: "0")
        switch width {
        case 2 where v >= 0 && v < 100:
            out.append(zero + UInt8(v / 10))
            out.append(zero + UInt8(v % 10))
            return
        case 3 where v >= 0 && v < 1000:
            out.append(zero + UInt8(v / 100))
            out.append(zero + UInt8(v / 10 % 10))
            out.append(zero + UInt8(v % 10))
            return
        case 4 where v >= 0 && v < 10000:
            out.append(zero + UInt8(v / 1000))
            out.append(zero + UInt8(v / 100 % 10))
            out.append(zero + UInt8(v / 10 % 10))
            out.append(zero + UInt8(v % 10))
            return
        default:
            break
        }
        guard v >= 0 else {
            let s = String(v)
            if s.utf8.count < width { out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - s.utf8.count)) }
            out.append(contentsOf: s.utf8)
            return
        }
        var digits = 1
        var rest = v / 10
        while rest > 0 { digits += 1; rest /= 10 }
        if digits < width { out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - digits)) }
        var divisor = 1
        for _ in 1..<digits { divisor *= 10 }
        var value = v
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(value / divisor))
            value %= divisor
            divisor /= 10
        }
    }
}
