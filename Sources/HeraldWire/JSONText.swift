/// Minimal JSON text helpers for the fixed shapes the server writes itself (errors, health).
public enum JSONText {
    /// `s` as a JSON string literal, quotes included (RFC 8259 §7).
    public static func quote(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
        return out
    }

    /// The contract's error shape: `{"error":{"code":"…","message":"…"}}`.
    public static func errorBody(code: String, message: String) -> [UInt8] {
        Array("{\"error\":{\"code\":\(quote(code)),\"message\":\(quote(message))}}".utf8)
    }
}
