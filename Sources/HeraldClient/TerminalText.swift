/// Text measured and cut in terminal columns, for lines that must never wrap (a wrapped line
/// breaks the in-place redraw, which counts lines to move the cursor up).
public enum TerminalText {
    /// Control characters (C0, DEL, C1) become spaces: a task title with an escape sequence in
    /// it must not be able to move the cursor or recolour the terminal.
    public static func sanitize(_ s: String) -> String {
        var out = ""
        out.unicodeScalars.reserveCapacity(s.unicodeScalars.count)
        for scalar in s.unicodeScalars {
            let v = scalar.value
            if v < 0x20 || (0x7F...0x9F).contains(v) || v == 0x2028 || v == 0x2029 {
                out.unicodeScalars.append(" ")
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Columns a character takes: 2 for East Asian wide and emoji, 0 for a lone combining
    /// mark, 1 otherwise. An approximation of wcwidth(3) that covers what titles contain.
    public static func width(of c: Character) -> Int {
        guard let first = c.unicodeScalars.first else { return 0 }
        let v = first.value
        if v < 0x300 { return 1 }
        if (0x300...0x36F).contains(v) || (0x200B...0x200F).contains(v) || v == 0xFE0F { return 0 }
        if c.unicodeScalars.contains(where: { $0.value == 0xFE0F }) { return 2 }  // emoji presentation
        switch v {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
             0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6,
             0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x1F680...0x1F6FF, 0x20000...0x3FFFD:
            return 2
        default:
            return 1
        }
    }

    public static func width(_ s: String) -> Int {
        s.reduce(0) { $0 + width(of: $1) }
    }

    /// `s` cut to at most `columns`, ending in `…` when something was cut.
    public static func truncate(_ s: String, to columns: Int) -> String {
        guard columns > 0 else { return "" }
        guard width(s) > columns else { return s }
        var out = ""
        var used = 0
        for c in s {
            let w = width(of: c)
            if used + w > columns - 1 { break }
            out.append(c)
            used += w
        }
        return out + "…"
    }

    /// `s` cut or padded with spaces to exactly `columns`.
    public static func fit(_ s: String, to columns: Int) -> String {
        let t = truncate(s, to: columns)
        let w = width(t)
        return w < columns ? t + String(repeating: " ", count: columns - w) : t
    }

    /// `s` right-aligned in `columns` (never cut).
    public static func padLeft(_ s: String, to columns: Int) -> String {
        let w = width(s)
        return w < columns ? String(repeating: " ", count: columns - w) + s : s
    }
}

/// Numbers for people: counts, rates, percentages and durations, without Foundation.
public enum HumanNumber {
    /// `x` with exactly `digits` decimals, rounded half away from zero: `fixed(45, 1)` = "45.0".
    public static func fixed(_ x: Double, digits: Int) -> String {
        guard x.isFinite else { return x.isNaN ? "nan" : (x < 0 ? "-inf" : "inf") }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        guard abs(x) * scale < 9e15 else { return "\(x)" }
        let negative = x < 0
        let n = Int64((abs(x) * scale).rounded())
        if digits == 0 { return (negative && n != 0 ? "-" : "") + String(n) }
        let s = Int64(scale)
        var frac = String(n % s)
        while frac.count < digits { frac = "0" + frac }
        return (negative && n != 0 ? "-" : "") + "\(n / s).\(frac)"
    }

    /// A quantity of work units: exact below a million ("450", "12.5"), then "734.0M", "1.2G".
    public static func count(_ x: Double) -> String {
        guard x.isFinite else { return "\(x)" }
        let a = abs(x)
        if a < 1e6 {
            if x == x.rounded() { return String(Int64(x)) }
            return trimmed(fixed(x, digits: 2))
        }
        for (limit, suffix) in [(1e9, "M"), (1e12, "G"), (1e15, "T")] where a < limit {
            return fixed(x / (limit / 1000), digits: 1) + suffix
        }
        return "\(x)"
    }

    /// Units per second: "450/s", "12.3/s", "0.25/s", "1.5M/s".
    public static func rate(_ x: Double) -> String {
        let a = abs(x)
        if a >= 1e6 { return count(x) + "/s" }
        if a >= 100 { return fixed(x, digits: 0) + "/s" }
        if a >= 10 { return fixed(x, digits: 1) + "/s" }
        return fixed(x, digits: 2) + "/s"
    }

    /// "45.0%".
    public static func percent(_ p: Double) -> String {
        fixed(p, digits: 1) + "%"
    }

    /// A duration: "45s", "1m05s", "2h03m", "3d04h".
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int64(max(0, seconds).rounded())
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(two(s % 60))s" }
        if s < 86_400 { return "\(s / 3600)h\(two(s / 60 % 60))m" }
        return "\(s / 86_400)d\(two(s / 3600 % 24))h"
    }

    /// Drops trailing zeros of a decimal: "12.50" → "12.5", "3.00" → "3".
    static func trimmed(_ s: String) -> String {
        guard s.contains(".") else { return s }
        var t = Substring(s)
        while t.hasSuffix("0") { t = t.dropLast() }
        if t.hasSuffix(".") { t = t.dropLast() }
        return String(t)
    }
}
