/// IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`, from and to seconds
/// since 1970. Pure arithmetic: no clock, no locale, no Foundation formatter.
public enum HTTPDate {
    private static let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    public static func format(secondsSince1970 t: Int) -> String {
        let days = t >= 0 ? t / 86_400 : (t - 86_399) / 86_400
        let secs = t - days * 86_400
        let (y, m, d) = civil(fromDays: days)
        let weekday = weekdays[((days % 7) + 7) % 7]
        guard (1000...9999).contains(y) else {
            return "\(weekday), \(pad2(d)) \(months[m - 1]) \(y) \(pad2(secs / 3600)):\(pad2(secs / 60 % 60)):\(pad2(secs % 60)) GMT"
        }
        // The same 29 bytes written directly: interpolation was most of a static file's
        // Last-Modified (callgrind).
        var out: [UInt8] = []
        out.reserveCapacity(29)
        out.append(contentsOf: weekday.utf8)
        out.append(UInt8(ascii: ","))
        out.append(UInt8(ascii: " "))
        RFC3339.pad(d, 2, &out)
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: months[m - 1].utf8)
        out.append(UInt8(ascii: " "))
        RFC3339.pad(y, 4, &out)
        out.append(UInt8(ascii: " "))
        RFC3339.pad(secs / 3600, 2, &out)
        out.append(UInt8(ascii: ":"))
        RFC3339.pad(secs / 60 % 60, 2, &out)
        out.append(UInt8(ascii: ":"))
        RFC3339.pad(secs % 60, 2, &out)
        out.append(contentsOf: " GMT".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    /// Parses an IMF-fixdate; the obsolete RFC 850 and asctime forms are not accepted
    /// (a conditional request with such a date is then simply unconditional).
    public static func parse(_ s: String) -> Int? {
        let parts = s.split(separator: " ")
        guard parts.count == 6, parts[0].count == 4, parts[0].hasSuffix(","), parts[5] == "GMT",
              let d = Int(parts[1]), let mi = months.firstIndex(of: String(parts[2])), let y = Int(parts[3])
        else { return nil }
        let hms = parts[4].split(separator: ":")
        guard hms.count == 3, let h = Int(hms[0]), let mm = Int(hms[1]), let ss = Int(hms[2]),
              (1...31).contains(d), (0...23).contains(h), (0...59).contains(mm), (0...60).contains(ss)
        else { return nil }
        return days(fromCivil: y, mi + 1, d) * 86_400 + h * 3600 + mm * 60 + ss
    }

    private static func pad2(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }

    // Howard Hinnant's days_from_civil / civil_from_days.
    public static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
