/// RFC 3339 UTC timestamps with milliseconds, e.g. `2026-11-23T20:10:05.123Z`, from and to
/// milliseconds since 1970. Pure arithmetic, like `HTTPDate`.
public enum RFC3339 {
    public static func format(millisecondsSince1970 ms: Int64) -> String {
        let totalSeconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let millis = Int(ms - totalSeconds * 1000)
        let t = Int(totalSeconds)
        let days = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
        let secs = t - days * 86_400
        let (y, m, d) = HTTPDate.civil(fromDays: days)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(secs / 3600, 2)):\(pad(secs / 60 % 60, 2)):\(pad(secs % 60, 2)).\(pad(millis, 3))Z"
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

    private static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
