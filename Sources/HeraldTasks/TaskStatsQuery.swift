/// The query of `GET /api/stats?owner=&window=S`, checked on the loop so bad input never
/// reaches the actor (`400 invalid_field`).
public enum TaskStatsQuery {
    /// The contract's default: the last hour.
    public static let defaultWindowSeconds = 3_600.0
    /// 30 days: longer than the default `--retention` (7 days), so any window a dashboard wants
    /// is accepted while retention decides what is still held; a bound keeps a typo (a window
    /// in milliseconds, say) from being taken for centuries.
    public static let maxWindowSeconds = 30.0 * 86_400

    /// `window=`: seconds as a plain decimal (`3600`, `0.5`), above 0 and at most
    /// `maxWindowSeconds`; absent or empty → the default. Exponents, hex, `nan`, `inf`, signs
    /// and anything else are refused.
    public static func window(_ text: String?) throws(TaskError) -> Double {
        guard let text, !text.isEmpty else { return defaultWindowSeconds }
        let limit = "must be a number of seconds above 0 and at most \(Int(maxWindowSeconds)) (30 days)"
        guard isPlainDecimal(text), let seconds = Double(text), seconds.isFinite else { throw .invalidField("window", limit) }
        guard seconds > 0, seconds <= maxWindowSeconds else { throw .invalidField("window", limit) }
        return seconds
    }

    /// `owner=`: absent or empty → every owner (for a caller that may see them all; a viewer's or
    /// worker's statistics are its own whatever this says); otherwise an owner name.
    public static func owner(_ text: String?) throws(TaskError) -> String? {
        guard let text, !text.isEmpty else { return nil }
        guard TaskValidation.isValidOwner(text) else {
            throw .invalidField("owner", "must be 1–\(TaskValidation.maxOwnerLength) characters of A–Z a–z 0–9 . _ -")
        }
        return text
    }

    /// The window in whole milliseconds, at least 1 (the clock's resolution), rounded to the
    /// nearest so that `1.1` s is 1,100 ms and not 1,101 from its binary fraction.
    static func milliseconds(_ seconds: Double) -> Int64 {
        max(1, Int64((seconds * 1000).rounded()))
    }

    /// `digits` or `digits.digits`: what "integer or decimal seconds" means, and nothing that
    /// `Double(_:)` would also read (`1e3`, `0x10`, `nan`, `+5`).
    private static func isPlainDecimal(_ text: String) -> Bool {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2 else { return false }
        return parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } }
    }
}
